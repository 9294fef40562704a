/* webp.c: WebP decoding (crop and scale in libwebp, first frame of animations) into the resampler, and WebP encoding. */
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include "internal.h"

#define WEBP_METHOD 4 /* libwebp's default speed/size trade-off */

/* error_from_vp8_status: libwebp decoder status to our error. */
static booka_image_error_t error_from_vp8_status(VP8StatusCode status)
{
    switch (status) {
    case VP8_STATUS_OK:
        return BOOKA_IMAGE_OK;
    case VP8_STATUS_OUT_OF_MEMORY:
        return BOOKA_IMAGE_ERROR_NO_MEMORY;
    case VP8_STATUS_NOT_ENOUGH_DATA:
        return BOOKA_IMAGE_ERROR_TRUNCATED;
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return BOOKA_IMAGE_ERROR_UNSUPPORTED;
    default:
        return BOOKA_IMAGE_ERROR_CORRUPT;
    }
}

/* resample_rows: pushes a decoded buffer through a new resampler for window and hands back plan->side square pixels. */
static booka_image_error_t resample_rows(const uint8_t *rows, size_t stride, uint32_t width, uint32_t height, uint8_t channels,
                                         const booka_image_window_t *window, uint32_t side, booka_image_pixels_t *out)
{
    booka_image_resampler_t *resampler;
    booka_image_error_t err = booka_image_resampler_new(&resampler, width, height, channels, window, side, side);
    if (err != BOOKA_IMAGE_OK)
        return err;
    for (uint32_t y = 0; y < height; ++y)
        booka_image_resampler_push_row(resampler, rows + y * stride);
    err = booka_image_resampler_finish(resampler, out);
    booka_image_resampler_free(resampler);
    return err;
}

/* decode_first_frame: an animated WebP's first frame, composited on its (transparent) canvas by libwebpdemux. The demuxer
 * validates the whole container first, so a damaged animation is CORRUPT (it cannot tell truncation apart). */
static booka_image_error_t decode_first_frame(const uint8_t *src, size_t len, const booka_image_plan_t *plan,
                                              booka_image_pixels_t *out)
{
    WebPAnimDecoderOptions options;
    WebPAnimInfo anim;
    WebPData data = {src, len};
    WebPAnimDecoder *decoder = NULL;
    booka_image_error_t err = BOOKA_IMAGE_ERROR_CORRUPT;
    uint8_t *canvas;
    int timestamp;

    if (!WebPAnimDecoderOptionsInit(&options))
        goto Exit;
    options.color_mode = MODE_RGBA;
    options.use_threads = 0;
    if ((decoder = WebPAnimDecoderNew(&data, &options)) == NULL || !WebPAnimDecoderGetInfo(decoder, &anim) ||
        anim.canvas_width != plan->info->width || anim.canvas_height != plan->info->height ||
        !WebPAnimDecoderGetNext(decoder, &canvas, &timestamp))
        goto Exit;
    booka_image_window_t window = {plan->crop_x, plan->crop_y, plan->crop_side, plan->crop_side};
    err = resample_rows(canvas, (size_t)anim.canvas_width * 4, anim.canvas_width, anim.canvas_height, 4, &window, plan->side, out);

Exit:
    WebPAnimDecoderDelete(decoder);
    return err;
}

/* set_crop_and_scale: asks libwebp for the plan's crop only, widened to even left/top edges (libwebp rounds them down for
 * its 4:2:0 chroma), and, when `scale`, scaled while decoding to the smallest size that keeps >= 2x the output side across
 * the crop (libwebp scales to any size, not only by integer factors). Returns, in *window, where the plan's crop lies in
 * what libwebp will output. */
static void set_crop_and_scale(WebPDecoderOptions *options, const booka_image_plan_t *plan, int scale, booka_image_window_t *window)
{
    uint32_t left = plan->crop_x & ~1u, top = plan->crop_y & ~1u;
    uint32_t width = plan->crop_x + plan->crop_side - left, height = plan->crop_y + plan->crop_side - top;
    uint32_t out_width = width, out_height = height;

    if (scale) {
        out_width = booka_image_scaled_length(width, plan->crop_side, plan->side);
        out_height = booka_image_scaled_length(height, plan->crop_side, plan->side);
    }
    options->use_cropping = 1;
    options->crop_left = (int)left;
    options->crop_top = (int)top;
    options->crop_width = (int)width;
    options->crop_height = (int)height;
    if (out_width != width || out_height != height) {
        options->use_scaling = 1;
        options->scaled_width = (int)out_width;
        options->scaled_height = (int)out_height;
    }
    double scale_x = (double)out_width / width, scale_y = (double)out_height / height;
    *window = (booka_image_window_t){(plan->crop_x - left) * scale_x, (plan->crop_y - top) * scale_y, plan->crop_side * scale_x,
                                     plan->crop_side * scale_y};
}

/* booka_image_decode_webp: decodes a still WebP (lossy or lossless, with or without alpha) cropped and shrunk by libwebp
 * (its scaler averages areas, so it is a fair first reduction), or an animation's first frame, and resamples the crop to
 * plan->side. A lossy bitstream with alpha is not shrunk by libwebp: its scaler averages the colour of such a picture without
 * weighing it by alpha, so colour kept under transparent pixels would bleed into the edges (it does weigh it for lossless
 * bitstreams); our resampler does, at the cost of a full-size decode of these rare sources. Fails with TRUNCATED, CORRUPT,
 * UNSUPPORTED or NO_MEMORY; *out is then empty and nothing leaks. */
booka_image_error_t booka_image_decode_webp(const uint8_t *src, size_t len, const booka_image_plan_t *plan,
                                            booka_image_pixels_t *out)
{
    WebPDecoderConfig config;
    booka_image_window_t window;
    booka_image_error_t err;
    *out = (booka_image_pixels_t){0};

    if (plan->info->is_animated)
        return decode_first_frame(src, len, plan, out);
    if (!WebPInitDecoderConfig(&config))
        return BOOKA_IMAGE_ERROR_UNSUPPORTED;
    if ((err = error_from_vp8_status(WebPGetFeatures(src, len, &config.input))) != BOOKA_IMAGE_OK)
        return err;
    set_crop_and_scale(&config.options, plan, plan->shrink_on_load && (!config.input.has_alpha || config.input.format == 2),
                       &window);
    uint8_t channels = plan->info->has_alpha ? 4 : 3;
    config.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB;
    if ((err = error_from_vp8_status(WebPDecode(src, len, &config))) != BOOKA_IMAGE_OK)
        goto Exit;
    const WebPRGBABuffer *rgba = &config.output.u.RGBA;
    err = resample_rows(rgba->rgba, (size_t)rgba->stride, (uint32_t)config.output.width, (uint32_t)config.output.height, channels,
                        &window, plan->side, out);

Exit:
    WebPFreeDecBuffer(&config.output);
    return err;
}

/* booka_image_encode_webp: lossy WebP at quality 1..100 on the calling thread; RGBA keeps its alpha (libwebp drops an alpha
 * plane that is fully opaque). On success out->bytes is malloc'd; fails with ENCODE or NO_MEMORY, leaving *out empty. */
booka_image_error_t booka_image_encode_webp(const booka_image_pixels_t *pixels, int quality, booka_image_result_t *out)
{
    WebPConfig config;
    WebPPicture picture;
    WebPMemoryWriter writer;
    booka_image_error_t err = BOOKA_IMAGE_ERROR_ENCODE;
    *out = (booka_image_result_t){0};

    WebPMemoryWriterInit(&writer);
    if (!WebPPictureInit(&picture))
        return BOOKA_IMAGE_ERROR_ENCODE;
    if (!WebPConfigInit(&config))
        goto Exit;
    config.quality = (float)quality;
    config.method = WEBP_METHOD;
    config.thread_level = 0;
    picture.width = (int)pixels->width;
    picture.height = (int)pixels->height;
    picture.writer = WebPMemoryWrite;
    picture.custom_ptr = &writer;
    int stride = (int)pixels->width * pixels->channels;
    if (!(pixels->channels == 4 ? WebPPictureImportRGBA(&picture, pixels->data, stride)
                                : WebPPictureImportRGB(&picture, pixels->data, stride))) {
        err = BOOKA_IMAGE_ERROR_NO_MEMORY;
        goto Exit;
    }
    if (!WebPEncode(&config, &picture)) {
        err = picture.error_code == VP8_ENC_ERROR_OUT_OF_MEMORY ? BOOKA_IMAGE_ERROR_NO_MEMORY : BOOKA_IMAGE_ERROR_ENCODE;
        goto Exit;
    }
    if ((out->bytes = malloc(writer.size)) == NULL) {
        err = BOOKA_IMAGE_ERROR_NO_MEMORY;
        goto Exit;
    }
    memcpy(out->bytes, writer.mem, writer.size);
    out->len = writer.size;
    out->mime_type = "image/webp";
    out->side = pixels->width;
    err = BOOKA_IMAGE_OK;

Exit:
    WebPPictureFree(&picture);
    WebPMemoryWriterClear(&writer);
    return err;
}
