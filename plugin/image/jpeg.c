/* jpeg.c: JPEG decoding (DCT shrink-on-load, greyscale, CMYK/YCCK, progressive) into the resampler, and JPEG encoding. */
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
#include <jerror.h>
#include "internal.h"

/* A progressive JPEG may hold any number of scans, each one costing a pass over the coefficients: past this many the file
 * is treated as hostile (libjpeg-turbo's own tools suggest such a limit). */
#define MAX_PROGRESSIVE_SCANS 500
#define MAX_DCT_SHRINK 8
#define DESTINATION_INITIAL_SIZE 16384

/* Errors longjmp back to the setjmp of the running decode or encode, which turns `error` into its return value. */
typedef struct jpeg_error_context {
    struct jpeg_error_mgr super;
    jmp_buf jump;
    booka_image_error_t fatal; /* what a fatal libjpeg error means here: CORRUPT when decoding, ENCODE when encoding */
    booka_image_error_t error;
} jpeg_error_context_t;

/* on_jpeg_error_exit: libjpeg's fatal error hook; never returns. */
static void on_jpeg_error_exit(j_common_ptr cinfo)
{
    jpeg_error_context_t *ctx = (jpeg_error_context_t *)cinfo->err;
    switch (cinfo->err->msg_code) {
    case JERR_OUT_OF_MEMORY:
        ctx->error = BOOKA_IMAGE_ERROR_NO_MEMORY;
        break;
    case JERR_NO_BACKING_STORE: /* libjpeg needed more than max_memory_to_use for its whole-image buffers */
        ctx->error = BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS;
        break;
    case JERR_INPUT_EMPTY:
    case JERR_INPUT_EOF:
        ctx->error = BOOKA_IMAGE_ERROR_TRUNCATED;
        break;
    default:
        ctx->error = ctx->fatal;
        break;
    }
    longjmp(ctx->jump, 1);
}

/* on_jpeg_message: warnings (level -1) that mean missing or garbled entropy-coded data are errors, so a truncated file is
 * rejected instead of coming out grey at the bottom; warnings about metadata or stray bytes between segments are not (the
 * pixels are intact). Trace messages are dropped; nothing is printed. */
static void on_jpeg_message(j_common_ptr cinfo, int msg_level)
{
    jpeg_error_context_t *ctx = (jpeg_error_context_t *)cinfo->err;
    if (msg_level >= 0)
        return;
    switch (cinfo->err->msg_code) {
    case JWRN_ADOBE_XFORM:
    case JWRN_BOGUS_ICC:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_JFIF_MAJOR:
    case JWRN_NOT_SEQUENTIAL:
        return;
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
        ctx->error = BOOKA_IMAGE_ERROR_TRUNCATED;
        break;
    default:
        ctx->error = BOOKA_IMAGE_ERROR_CORRUPT;
        break;
    }
    longjmp(ctx->jump, 1);
}

/* install_error_handlers: routes libjpeg's errors and warnings to ctx. */
static struct jpeg_error_mgr *install_error_handlers(jpeg_error_context_t *ctx, booka_image_error_t fatal)
{
    jpeg_std_error(&ctx->super);
    ctx->super.error_exit = on_jpeg_error_exit;
    ctx->super.emit_message = on_jpeg_message;
    ctx->fatal = fatal;
    ctx->error = fatal;
    return &ctx->super;
}

/* on_jpeg_progress: stops decoding files with more than MAX_PROGRESSIVE_SCANS scans. */
static void on_jpeg_progress(j_common_ptr cinfo)
{
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (cinfo->is_decompressor && dinfo->input_scan_number > MAX_PROGRESSIVE_SCANS) {
        jpeg_error_context_t *ctx = (jpeg_error_context_t *)cinfo->err;
        ctx->error = BOOKA_IMAGE_ERROR_CORRUPT;
        longjmp(ctx->jump, 1);
    }
}

/* Everything a decode owns; it lives in the caller's frame so its fields survive the longjmp. */
typedef struct jpeg_decode {
    struct jpeg_decompress_struct cinfo;
    jpeg_error_context_t errors;
    struct jpeg_progress_mgr progress;
    int created;
    uint8_t *row;
    booka_image_resampler_t *resampler;
} jpeg_decode_t;

/* cmyk_row_to_rgb: converts in place (RGB is written behind the CMYK being read). Adobe applications store CMYK inverted
 * (0 = full ink) and mark the file with an APP14 marker, which libjpeg reports as saw_Adobe_marker; without the marker the
 * values are ink amounts. Naive conversion, no ICC profile: R = (1 - C)(1 - K), likewise G and B. */
static void cmyk_row_to_rgb(uint8_t *row, uint32_t width, int inverted)
{
    const uint8_t *src = row;
    uint8_t *dst = row;
    for (uint32_t x = 0; x < width; ++x, src += 4, dst += 3) {
        uint32_t k = inverted ? src[3] : 255u - src[3];
        for (int c = 0; c < 3; ++c) {
            uint32_t ink = inverted ? src[c] : 255u - src[c];
            dst[c] = (uint8_t)((ink * k + 127) / 255);
        }
    }
}

/* dct_shrink: the largest of 1, 2, 4, 8 that leaves the crop at least twice the output side. */
static uint32_t dct_shrink(const booka_image_plan_t *plan)
{
    if (!plan->shrink_on_load)
        return 1;
    uint32_t factor = booka_image_shrink_factor(plan->crop_side, plan->side, MAX_DCT_SHRINK), power = 1;
    while (power * 2 <= factor)
        power *= 2;
    return power;
}

/* run_jpeg_decode: the body of booka_image_decode_jpeg() under setjmp; resources it creates are recorded in job for the
 * caller to release. Every scanline is decoded (not skipped) and the file read to EOI, so damage anywhere is reported. */
static booka_image_error_t run_jpeg_decode(jpeg_decode_t *job, const uint8_t *src, size_t len, const booka_image_plan_t *plan,
                                           booka_image_pixels_t *out)
{
    struct jpeg_decompress_struct *cinfo = &job->cinfo;
    booka_image_error_t err;

    cinfo->err = install_error_handlers(&job->errors, BOOKA_IMAGE_ERROR_CORRUPT);
    if (setjmp(job->errors.jump))
        return job->errors.error;
    jpeg_create_decompress(cinfo);
    job->created = 1;
    /* libjpeg-turbo counts its allocations against this and, with no backing store (jmemnobs), fails a decode whose
     * whole-image buffers (a progressive file's coefficients) would go past it: JERR_NO_BACKING_STORE */
    cinfo->mem->max_memory_to_use = (long)(plan->max_decode_bytes < LONG_MAX ? plan->max_decode_bytes : LONG_MAX);
    job->progress.progress_monitor = on_jpeg_progress;
    cinfo->progress = &job->progress;
    jpeg_mem_src(cinfo, src, (unsigned long)len);
    jpeg_read_header(cinfo, TRUE);
    if (cinfo->image_width != plan->info->width || cinfo->image_height != plan->info->height)
        return BOOKA_IMAGE_ERROR_CORRUPT;

    int cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB; /* libjpeg-turbo expands greyscale to RGB itself */
    uint32_t shrink = dct_shrink(plan);
    cinfo->scale_num = 1;
    cinfo->scale_denom = shrink;
    jpeg_start_decompress(cinfo);

    if ((job->row = malloc((size_t)cinfo->output_width * cinfo->output_components)) == NULL)
        return BOOKA_IMAGE_ERROR_NO_MEMORY;
    booka_image_window_t window = {(double)plan->crop_x / shrink, (double)plan->crop_y / shrink, (double)plan->crop_side / shrink,
                                   (double)plan->crop_side / shrink};
    if ((err = booka_image_resampler_new(&job->resampler, cinfo->output_width, cinfo->output_height, 3, &window, plan->side,
                                         plan->side)) != BOOKA_IMAGE_OK)
        return err;
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW rows[1] = {job->row};
        if (jpeg_read_scanlines(cinfo, rows, 1) != 1)
            return BOOKA_IMAGE_ERROR_TRUNCATED;
        if (cmyk)
            cmyk_row_to_rgb(job->row, cinfo->output_width, cinfo->saw_Adobe_marker);
        booka_image_resampler_push_row(job->resampler, job->row);
    }
    jpeg_finish_decompress(cinfo);
    return booka_image_resampler_finish(job->resampler, out);
}

/* booka_image_decode_jpeg: decodes with libjpeg's DCT scaling (1/2, 1/4, 1/8) when the plan allows shrinking, keeping the
 * decoded crop at least 2x the output side, and resamples the crop to plan->side. Fails with TRUNCATED, CORRUPT,
 * UNSUPPORTED or NO_MEMORY; *out is then empty and nothing leaks. */
booka_image_error_t booka_image_decode_jpeg(const uint8_t *src, size_t len, const booka_image_plan_t *plan,
                                            booka_image_pixels_t *out)
{
    jpeg_decode_t job = {0};
    *out = (booka_image_pixels_t){0};
    booka_image_error_t err = run_jpeg_decode(&job, src, len, plan, out);
    if (job.created)
        jpeg_destroy_decompress(&job.cinfo);
    free(job.row);
    booka_image_resampler_free(job.resampler);
    if (err != BOOKA_IMAGE_OK)
        booka_image_pixels_dispose(out);
    return err;
}

/* A growable malloc'd output buffer; libjpeg's jpeg_mem_dest would leave its buffer unreachable after an error. */
typedef struct jpeg_destination {
    struct jpeg_destination_mgr super;
    uint8_t *bytes;
    size_t capacity;
} jpeg_destination_t;

/* on_destination_init: allocates the first output buffer; an allocation failure is a libjpeg out-of-memory error. */
static void on_destination_init(j_compress_ptr cinfo)
{
    jpeg_destination_t *dest = (jpeg_destination_t *)cinfo->dest;
    if ((dest->bytes = malloc(DESTINATION_INITIAL_SIZE)) == NULL)
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    dest->capacity = DESTINATION_INITIAL_SIZE;
    dest->super.next_output_byte = dest->bytes;
    dest->super.free_in_buffer = dest->capacity;
}

/* on_destination_full: doubles the buffer (libjpeg calls this only when it is completely full). */
static boolean on_destination_full(j_compress_ptr cinfo)
{
    jpeg_destination_t *dest = (jpeg_destination_t *)cinfo->dest;
    uint8_t *grown = realloc(dest->bytes, dest->capacity * 2);
    if (grown == NULL)
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 1);
    dest->bytes = grown;
    dest->super.next_output_byte = grown + dest->capacity;
    dest->super.free_in_buffer = dest->capacity;
    dest->capacity *= 2;
    return TRUE;
}

/* on_destination_term: nothing to flush; the caller reads the length from free_in_buffer. */
static void on_destination_term(j_compress_ptr cinfo)
{
}

typedef struct jpeg_encode {
    struct jpeg_compress_struct cinfo;
    jpeg_error_context_t errors;
    jpeg_destination_t destination;
    int created;
    uint8_t *flattened_row;
} jpeg_encode_t;

/* flatten_row_on_white: composites straight-alpha RGBA over white into RGB: c * a / 255 + 255 - a. */
static void flatten_row_on_white(const uint8_t *rgba, uint32_t width, uint8_t *rgb)
{
    for (uint32_t x = 0; x < width; ++x, rgba += 4, rgb += 3) {
        uint32_t alpha = rgba[3];
        for (int c = 0; c < 3; ++c)
            rgb[c] = (uint8_t)((rgba[c] * alpha + 255 * (255 - alpha) + 127) / 255);
    }
}

/* run_jpeg_encode: the body of booka_image_encode_jpeg() under setjmp. Chroma is subsampled 4:2:0 below quality 90 and kept
 * at 4:4:4 from 90 up (as libvips does), since high qualities are asked for to keep edges and colour crisp. */
static booka_image_error_t run_jpeg_encode(jpeg_encode_t *job, const booka_image_pixels_t *pixels, int quality, int progressive)
{
    struct jpeg_compress_struct *cinfo = &job->cinfo;

    cinfo->err = install_error_handlers(&job->errors, BOOKA_IMAGE_ERROR_ENCODE);
    if (setjmp(job->errors.jump))
        return job->errors.error;
    jpeg_create_compress(cinfo);
    job->created = 1;
    job->destination.super.init_destination = on_destination_init;
    job->destination.super.empty_output_buffer = on_destination_full;
    job->destination.super.term_destination = on_destination_term;
    cinfo->dest = &job->destination.super;

    cinfo->image_width = pixels->width;
    cinfo->image_height = pixels->height;
    cinfo->input_components = 3;
    cinfo->in_color_space = JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, quality, TRUE);
    if (quality >= 90)
        cinfo->comp_info[0].h_samp_factor = cinfo->comp_info[0].v_samp_factor = 1;
    if (progressive)
        jpeg_simple_progression(cinfo);
    else
        cinfo->optimize_coding = TRUE;
    if (pixels->channels == 4 && (job->flattened_row = malloc((size_t)pixels->width * 3)) == NULL)
        return BOOKA_IMAGE_ERROR_NO_MEMORY;

    jpeg_start_compress(cinfo, TRUE);
    size_t stride = (size_t)pixels->width * pixels->channels;
    while (cinfo->next_scanline < cinfo->image_height) {
        uint8_t *row = pixels->data + cinfo->next_scanline * stride;
        if (pixels->channels == 4) {
            flatten_row_on_white(row, pixels->width, job->flattened_row);
            row = job->flattened_row;
        }
        JSAMPROW rows[1] = {row};
        jpeg_write_scanlines(cinfo, rows, 1);
    }
    jpeg_finish_compress(cinfo);
    return BOOKA_IMAGE_OK;
}

/* booka_image_encode_jpeg: encodes RGB or RGBA (flattened onto white) pixels at quality 1..100, as a progressive JPEG or a
 * sequential one with optimised Huffman tables. On success out->bytes is malloc'd; fails with ENCODE or NO_MEMORY, leaving
 * *out empty. */
booka_image_error_t booka_image_encode_jpeg(const booka_image_pixels_t *pixels, int quality, int progressive,
                                            booka_image_result_t *out)
{
    jpeg_encode_t job = {0};
    *out = (booka_image_result_t){0};
    booka_image_error_t err = run_jpeg_encode(&job, pixels, quality, progressive);
    if (err == BOOKA_IMAGE_OK) {
        out->bytes = job.destination.bytes;
        out->len = job.destination.capacity - job.destination.super.free_in_buffer;
        out->mime_type = "image/jpeg";
        out->side = pixels->width;
        job.destination.bytes = NULL;
    }
    if (job.created)
        jpeg_destroy_compress(&job.cinfo);
    free(job.destination.bytes);
    free(job.flattened_row);
    return err;
}
