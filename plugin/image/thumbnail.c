/* thumbnail.c: the pipeline: limits, probe, decode with shrink-on-load, crop, Lanczos-3, orientation, encode. */
#include <stdlib.h>
#include "internal.h"

/* JPEG output mode: sequential with optimised Huffman tables rather than progressive. Measured with bench/image/run.sh on
 * photo-like 512 px thumbnails at q85, progressive saves 2.4-2.7% of the bytes (256 px: 1.7-1.9%; logo: graphics 3-6%) but
 * grows smooth pictures (rose: scaled up, +2-4%) and takes 2.5x the encode time (1.3 -> 3.4 ms at 512 px). Variants are
 * cached, so the encode time hardly matters; what tips it is that the saving is small and not always there, while
 * clients pay for progressive on every view: libjpeg-turbo decodes the 512 px progressive file in 1.8 ms against 0.6 ms. */
#define JPEG_PROGRESSIVE 0

/* decode_plan: runs the decoder for the source's format. */
static booka_image_error_t decode_plan(const uint8_t *src, size_t len, const booka_image_plan_t *plan, booka_image_pixels_t *out)
{
    switch (plan->info->format) {
    case BOOKA_IMAGE_FORMAT_JPEG:
        return booka_image_decode_jpeg(src, len, plan, out);
    case BOOKA_IMAGE_FORMAT_PNG:
        return booka_image_decode_png(src, len, plan, out);
    case BOOKA_IMAGE_FORMAT_WEBP:
        return booka_image_decode_webp(src, len, plan, out);
    default:
        return BOOKA_IMAGE_ERROR_NOT_IMAGE;
    }
}

/* The resampling happens in stored orientation on the stored-coordinate square that booka_image_plan_crop() picks, and the
 * orientation is applied to the small result: this equals orienting first, cropping and resampling, because the crop
 * square maps onto the oriented crop square and the Lanczos kernel and its sample positions are symmetric (only the
 * rounding between the two passes may differ by one unit when the axes swap). */
booka_image_error_t booka_image_render(const uint8_t *src, size_t len, const booka_image_params_t *params,
                                       booka_image_pixels_t *out)
{
    const booka_image_limits_t *limits = params->limits != NULL ? params->limits : &booka_image_default_limits;
    booka_image_info_t info;
    booka_image_plan_t plan = {&info};
    booka_image_error_t err;
    *out = (booka_image_pixels_t){0};

    if (len > limits->max_source_bytes)
        return BOOKA_IMAGE_ERROR_TOO_MANY_BYTES;
    if ((err = booka_image_probe(src, len, &info)) != BOOKA_IMAGE_OK ||
        (err = booka_image_check_limits(&info, len, limits)) != BOOKA_IMAGE_OK)
        return err;
    uint32_t short_side = info.width < info.height ? info.width : info.height;
    if (params->side == 0 || params->side > short_side || params->side > limits->max_output_side)
        return BOOKA_IMAGE_ERROR_BAD_PARAMS;

    booka_image_plan_crop(info.width, info.height, info.orientation, &plan.crop_x, &plan.crop_y, &plan.crop_side);
    plan.side = params->side;
    plan.shrink_on_load = !params->full_decode;
    plan.max_decode_bytes = limits->max_decode_bytes;
    if ((err = decode_plan(src, len, &plan, out)) != BOOKA_IMAGE_OK)
        return err;
    if ((err = booka_image_apply_orientation(out, info.orientation)) != BOOKA_IMAGE_OK)
        booka_image_pixels_dispose(out);
    return err;
}

booka_image_error_t booka_image_encode(const booka_image_pixels_t *pixels, booka_image_output_format_t format, int quality,
                                       booka_image_result_t *out)
{
    *out = (booka_image_result_t){0};
    if (pixels->data == NULL || pixels->width == 0 || pixels->height == 0 || (pixels->channels != 3 && pixels->channels != 4) ||
        quality < 1 || quality > 100)
        return BOOKA_IMAGE_ERROR_BAD_PARAMS;
    switch (format) {
    case BOOKA_IMAGE_OUTPUT_WEBP:
        return booka_image_encode_webp(pixels, quality, out);
    case BOOKA_IMAGE_OUTPUT_JPEG:
        return booka_image_encode_jpeg(pixels, quality, JPEG_PROGRESSIVE, out);
    default:
        return BOOKA_IMAGE_ERROR_BAD_PARAMS;
    }
}

booka_image_error_t booka_image_thumbnail(const uint8_t *src, size_t len, const booka_image_params_t *params,
                                          booka_image_result_t *out)
{
    booka_image_pixels_t pixels;
    booka_image_error_t err;
    *out = (booka_image_result_t){0};

    if (params->quality < 1 || params->quality > 100 ||
        (params->format != BOOKA_IMAGE_OUTPUT_WEBP && params->format != BOOKA_IMAGE_OUTPUT_JPEG))
        return BOOKA_IMAGE_ERROR_BAD_PARAMS;
    if ((err = booka_image_render(src, len, params, &pixels)) != BOOKA_IMAGE_OK)
        return err;
    err = booka_image_encode(&pixels, params->format, params->quality, out);
    booka_image_pixels_dispose(&pixels);
    return err;
}
