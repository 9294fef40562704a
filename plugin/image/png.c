/* png.c: PNG decoding with libpng, every colour type, depth and interlace normalised to RGB8 or RGBA8, into the resampler. */
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include "internal.h"

/* Largest chunk libpng may allocate for: a guard only, since the ancillary chunks that could inflate are skipped (below). */
#define MAX_CHUNK_BYTES (8 * 1024 * 1024)

/* Everything a decode owns; it lives in the caller's frame so its fields survive libpng's longjmp. */
typedef struct png_decode {
    const uint8_t *src;
    size_t len, pos;
    booka_image_error_t error; /* what the next png_error means */
    png_structp png;
    png_infop info;
    uint8_t *image; /* whole image, interlaced files only */
    uint8_t **rows;
    booka_image_resampler_t *resampler;
} png_decode_t;

/* on_png_read: libpng's input callback over the memory buffer; running out of bytes is a TRUNCATED error. */
static void on_png_read(png_structp png, png_bytep data, size_t wanted)
{
    png_decode_t *job = png_get_io_ptr(png);
    if (job->len - job->pos < wanted) {
        job->error = BOOKA_IMAGE_ERROR_TRUNCATED;
        png_error(png, "truncated");
    }
    memcpy(data, job->src + job->pos, wanted);
    job->pos += wanted;
}

/* on_png_error: silent; libpng reports allocation failures as "Out of memory" (checked by prefix). Never returns. */
static void on_png_error(png_structp png, png_const_charp message)
{
    png_decode_t *job = png_get_error_ptr(png);
    if (job->error == BOOKA_IMAGE_ERROR_CORRUPT && strncmp(message, "Out of memory", 13) == 0)
        job->error = BOOKA_IMAGE_ERROR_NO_MEMORY;
    png_longjmp(png, 1);
}

/* on_png_warning: libpng warns about recoverable oddities (bad ancillary CRCs, unknown chunks); they are not errors. */
static void on_png_warning(png_structp png, png_const_charp message)
{
}

/* normalise_to_8bit_rgb: asks libpng for 8-bit RGB or RGBA whatever the file holds: palettes and low-depth grey expanded,
 * tRNS turned into an alpha channel, 16-bit samples scaled (rounded, not truncated), grey copied to RGB. Returns the number
 * of interlace passes libpng will run. */
static int normalise_to_8bit_rgb(png_structp png, png_infop info)
{
    png_set_expand(png);
    png_set_scale_16(png);
    png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    return passes;
}

/* read_interlaced: an interlaced image only has its final rows once the last pass is done, so it is read whole and then
 * pushed. The whole image is what a decode holds, so it is bounded like libjpeg's buffers: over `max_decode_bytes` (0: no
 * limit) it is TOO_MANY_PIXELS before anything is allocated (a 176 KB 6324x6324 RGBA file would hold 160 MB). */
static booka_image_error_t read_interlaced(png_decode_t *job, uint32_t height, size_t row_bytes, size_t max_decode_bytes)
{
    size_t image_bytes;

    if (__builtin_mul_overflow(row_bytes, (size_t)height, &image_bytes) ||
        (max_decode_bytes != 0 && image_bytes > max_decode_bytes))
        return BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS;
    if ((job->image = malloc(image_bytes)) == NULL || (job->rows = malloc(height * sizeof(*job->rows))) == NULL)
        return BOOKA_IMAGE_ERROR_NO_MEMORY;
    for (uint32_t y = 0; y < height; ++y)
        job->rows[y] = job->image + y * row_bytes;
    png_read_image(job->png, job->rows);
    for (uint32_t y = 0; y < height; ++y)
        booka_image_resampler_push_row(job->resampler, job->rows[y]);
    return BOOKA_IMAGE_OK;
}

/* read_progressive: a non-interlaced image streams one row at a time through a single row buffer. */
static booka_image_error_t read_progressive(png_decode_t *job, uint32_t height, size_t row_bytes)
{
    if ((job->image = malloc(row_bytes)) == NULL)
        return BOOKA_IMAGE_ERROR_NO_MEMORY;
    for (uint32_t y = 0; y < height; ++y) {
        png_read_row(job->png, job->image, NULL);
        booka_image_resampler_push_row(job->resampler, job->image);
    }
    return BOOKA_IMAGE_OK;
}

/* check_chunk_lengths: walks the chunk headers from the signature to IEND and fails with TRUNCATED when one claims more
 * bytes than the file has left (CORRUPT over PNG's 2^31 - 1). libpng would allocate such a claim before reading it: it
 * reports a chunk over png_set_chunk_malloc_max as a benign error, which a reader only warns about, then allocates the
 * declared length (a 57-byte file made it reserve 1.9 GB). libpng has no hook between a chunk's header and that
 * allocation, hence this walk; it touches 8 bytes a chunk. */
static booka_image_error_t check_chunk_lengths(const uint8_t *src, size_t len)
{
    size_t pos = 8;
    while (pos < len) {
        if (len - pos < 12)
            return BOOKA_IMAGE_ERROR_TRUNCATED;
        uint32_t length = (uint32_t)src[pos] << 24 | (uint32_t)src[pos + 1] << 16 | (uint32_t)src[pos + 2] << 8 | src[pos + 3];
        if (length > 0x7fffffffu)
            return BOOKA_IMAGE_ERROR_CORRUPT;
        if (length > len - pos - 12)
            return BOOKA_IMAGE_ERROR_TRUNCATED;
        if (memcmp(src + pos + 4, "IEND", 4) == 0)
            return BOOKA_IMAGE_OK;
        pos += 12 + (size_t)length;
    }
    return BOOKA_IMAGE_ERROR_TRUNCATED;
}

/* run_png_decode: the body of booka_image_decode_png() under setjmp; what it allocates is recorded in job. The file is read
 * to IEND, so a file cut anywhere is TRUNCATED. */
static booka_image_error_t run_png_decode(png_decode_t *job, const booka_image_plan_t *plan, booka_image_pixels_t *out)
{
    booka_image_error_t err;
    if ((err = check_chunk_lengths(job->src, job->len)) != BOOKA_IMAGE_OK)
        return err;
    if (setjmp(png_jmpbuf(job->png)))
        return job->error;
    png_set_read_fn(job->png, job, on_png_read);
    png_set_user_limits(job->png, 0x7fffffff, 0x7fffffff); /* the caller's pixel limit applies, not libpng's 1M x 1M */
    png_set_chunk_malloc_max(job->png, MAX_CHUNK_BYTES);
    /* Every ancillary chunk libpng knows except tRNS (text, colour management, metadata: bKGD ... zTXt, libpng's own list
     * for -1), and every unknown one, skipped: read through a small stack buffer for the CRC, neither kept nor inflated.
     * The decoder uses none of them (no gamma or colour transform is asked for). Otherwise libpng inflates each zTXt and
     * iTXt (and one iCCP) and keeps the texts until the decode ends, up to its cache of 1000 chunks of MAX_CHUNK_BYTES:
     * a 344 KB file of 48 compressed texts held 343 MiB (test/unit/image/reject_test.c), and 20 MB of them would hold
     * ~7 GB after minutes of inflating. */
    png_set_keep_unknown_chunks(job->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(job->png, job->info);
    uint32_t width = png_get_image_width(job->png, job->info), height = png_get_image_height(job->png, job->info);
    if (width != plan->info->width || height != plan->info->height)
        return BOOKA_IMAGE_ERROR_CORRUPT;
    int passes = normalise_to_8bit_rgb(job->png, job->info);
    uint8_t channels = png_get_channels(job->png, job->info);
    size_t row_bytes = png_get_rowbytes(job->png, job->info);
    if ((channels != 3 && channels != 4) || row_bytes != (size_t)width * channels)
        return BOOKA_IMAGE_ERROR_UNSUPPORTED;

    booka_image_window_t window = {plan->crop_x, plan->crop_y, plan->crop_side, plan->crop_side};
    if ((err = booka_image_resampler_new(&job->resampler, width, height, channels, &window, plan->side, plan->side)) !=
        BOOKA_IMAGE_OK)
        return err;
    if ((err = passes > 1 ? read_interlaced(job, height, row_bytes, plan->max_decode_bytes)
                          : read_progressive(job, height, row_bytes)) != BOOKA_IMAGE_OK)
        return err;
    png_read_end(job->png, NULL);
    return booka_image_resampler_finish(job->resampler, out);
}

/* booka_image_decode_png: decodes the whole file (PNG has no shrink-on-load) and resamples the plan's crop to plan->side.
 * Fails with TRUNCATED, CORRUPT, UNSUPPORTED or NO_MEMORY; *out is then empty and nothing leaks. */
booka_image_error_t booka_image_decode_png(const uint8_t *src, size_t len, const booka_image_plan_t *plan,
                                           booka_image_pixels_t *out)
{
    png_decode_t job = {src, len, 0, BOOKA_IMAGE_ERROR_CORRUPT};
    booka_image_error_t err = BOOKA_IMAGE_ERROR_NO_MEMORY;
    *out = (booka_image_pixels_t){0};

    if ((job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, on_png_error, on_png_warning)) == NULL ||
        (job.info = png_create_info_struct(job.png)) == NULL)
        goto Exit;
    err = run_png_decode(&job, plan, out);

Exit:
    png_destroy_read_struct(job.png ? &job.png : NULL, job.info ? &job.info : NULL, NULL);
    free(job.image);
    free(job.rows);
    booka_image_resampler_free(job.resampler);
    if (err != BOOKA_IMAGE_OK)
        booka_image_pixels_dispose(out);
    return err;
}
