/* resample.c: a streaming separable Lanczos-3 resampler: source rows in, one at a time, a resized window out. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* Samples travel in a "x255" domain: opaque values v become v * 255, and with alpha a colour c becomes c * a (premultiplied)
 * and a becomes a * 255, so both share one scale of 0..65025 and un-premultiplying is one division. */
#define DOMAIN_MAX (255 * 255)

struct booka_image_resampler {
    uint32_t out_width, out_height;
    uint8_t channels; /* 3 (RGB) or 4 (RGBA, straight alpha in and out) */
    booka_image_filter_t horizontal, vertical;
    uint32_t col_first, col_end; /* source columns any horizontal tap reads */
    uint32_t row_first, row_end; /* source rows any vertical tap reads */
    uint32_t next_row, next_out_row;
    uint16_t *domain_row; /* columns col_first..col_end of the current row, in the x255 domain */
    int32_t *ring;        /* ring_rows horizontally filtered rows, out_width * channels each */
    uint32_t ring_rows;
    int64_t *sums;   /* one output row of vertical sums */
    uint8_t *pixels; /* the output, out_width * out_height * channels */
};

/* round_shift: v / ONE rounded half up, for negative v too (GCC's >> on signed values is arithmetic). */
static inline int64_t round_shift(int64_t v)
{
    return (v + (BOOKA_IMAGE_WEIGHT_ONE / 2)) >> BOOKA_IMAGE_WEIGHT_BITS;
}

/* clamp64: v limited to [lo, hi]. */
static inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ring_rows_needed: how many filtered rows must stay available so that no row is overwritten before the last output row
 * that reads it has been produced (output rows are produced in order, each once its last source row has arrived). */
static uint32_t ring_rows_needed(const booka_image_filter_t *vertical)
{
    uint32_t rows = 1, latest_end = 0;
    for (uint32_t i = 0; i < vertical->out_size; ++i) {
        uint32_t end = vertical->first[i] + vertical->count[i];
        if (end > latest_end)
            latest_end = end;
        if (latest_end - vertical->first[i] > rows)
            rows = latest_end - vertical->first[i];
    }
    return rows;
}

/* tap_span: the smallest [first, end) holding every tap of filter. */
static void tap_span(const booka_image_filter_t *filter, uint32_t *first, uint32_t *end)
{
    *first = UINT32_MAX;
    *end = 0;
    for (uint32_t i = 0; i < filter->out_size; ++i) {
        if (filter->first[i] < *first)
            *first = filter->first[i];
        if (filter->first[i] + filter->count[i] > *end)
            *end = filter->first[i] + filter->count[i];
    }
}

/* booka_image_resampler_new: prepares to resize `window` of a src_width x src_height image with 3 or 4 channels to
 * out_width x out_height. Fails with BAD_PARAMS (bad channels or window) or NO_MEMORY; *out is then NULL. */
booka_image_error_t booka_image_resampler_new(booka_image_resampler_t **out, uint32_t src_width, uint32_t src_height,
                                              uint8_t channels, const booka_image_window_t *window, uint32_t out_width,
                                              uint32_t out_height)
{
    booka_image_error_t err = BOOKA_IMAGE_ERROR_NO_MEMORY;
    booka_image_resampler_t *r;
    *out = NULL;

    if ((r = calloc(1, sizeof(*r))) == NULL)
        return BOOKA_IMAGE_ERROR_NO_MEMORY;
    r->out_width = out_width;
    r->out_height = out_height;
    r->channels = channels;
    if (channels != 3 && channels != 4) {
        err = BOOKA_IMAGE_ERROR_BAD_PARAMS;
        goto Error;
    }
    if ((err = booka_image_filter_init(&r->horizontal, src_width, window->x, window->width, out_width)) != BOOKA_IMAGE_OK ||
        (err = booka_image_filter_init(&r->vertical, src_height, window->y, window->height, out_height)) != BOOKA_IMAGE_OK)
        goto Error;
    tap_span(&r->horizontal, &r->col_first, &r->col_end);
    tap_span(&r->vertical, &r->row_first, &r->row_end);
    r->ring_rows = ring_rows_needed(&r->vertical);

    err = BOOKA_IMAGE_ERROR_NO_MEMORY;
    size_t out_row = (size_t)out_width * channels;
    if ((r->domain_row = malloc((size_t)(r->col_end - r->col_first) * channels * sizeof(uint16_t))) == NULL ||
        (r->ring = malloc(out_row * r->ring_rows * sizeof(int32_t))) == NULL ||
        (r->sums = malloc(out_row * sizeof(int64_t))) == NULL || (r->pixels = malloc(out_row * out_height)) == NULL)
        goto Error;
    *out = r;
    return BOOKA_IMAGE_OK;

Error:
    booka_image_resampler_free(r);
    return err;
}

/* to_domain: converts the used columns of one 8-bit source row to the x255 domain, premultiplying colour by alpha. */
static void to_domain(const booka_image_resampler_t *r, const uint8_t *row, uint16_t *dst)
{
    const uint8_t *src = row + (size_t)r->col_first * r->channels;
    uint32_t columns = r->col_end - r->col_first;
    if (r->channels == 3) {
        for (size_t i = 0; i < (size_t)columns * 3; ++i)
            dst[i] = (uint16_t)(src[i] * 255);
    } else {
        for (uint32_t x = 0; x < columns; ++x, src += 4, dst += 4) {
            uint32_t alpha = src[3];
            dst[0] = (uint16_t)(src[0] * alpha);
            dst[1] = (uint16_t)(src[1] * alpha);
            dst[2] = (uint16_t)(src[2] * alpha);
            dst[3] = (uint16_t)(alpha * 255);
        }
    }
}

/* filter_horizontally: one domain row to out_width filtered samples (rounded back to the domain's scale, not clamped:
 * the negative lobes may over- or undershoot, which the vertical pass still needs). 32-bit sums cannot overflow: samples are
 * at most 65025 and booka_image_filter_init() guarantees each pixel's |weights| sum to at most 2 * ONE, so a sum stays
 * within 65025 * 32768 < 2^31. channels is a literal at each call site, so the alpha lines compile away for RGB. */
static inline void filter_horizontally(const booka_image_filter_t *h, const uint16_t *src, uint32_t col_first, int32_t *dst,
                                       const uint32_t channels)
{
    for (uint32_t x = 0; x < h->out_size; ++x, dst += channels) {
        const int32_t *weights = h->weights + (size_t)x * h->stride;
        const uint16_t *taps = src + (size_t)(h->first[x] - col_first) * channels;
        int32_t red = 0, green = 0, blue = 0, alpha = 0; /* in registers: an array here would go through memory */
        for (uint32_t k = 0; k < h->count[x]; ++k, taps += channels) {
            red += weights[k] * taps[0];
            green += weights[k] * taps[1];
            blue += weights[k] * taps[2];
            if (channels == 4)
                alpha += weights[k] * taps[3];
        }
        dst[0] = (int32_t)round_shift(red);
        dst[1] = (int32_t)round_shift(green);
        dst[2] = (int32_t)round_shift(blue);
        if (channels == 4)
            dst[3] = (int32_t)round_shift(alpha);
    }
}

/* from_domain: rounds one row of vertical sums to 8-bit output, clamping the ringing of the negative lobes to 0..255 and,
 * with alpha, clamping colour to at most alpha before un-premultiplying. */
static void from_domain(const int64_t *sums, uint32_t width, uint8_t channels, uint8_t *dst)
{
    if (channels == 3) {
        for (size_t i = 0; i < (size_t)width * 3; ++i)
            dst[i] = (uint8_t)((clamp64(round_shift(sums[i]), 0, DOMAIN_MAX) + 127) / 255);
        return;
    }
    for (uint32_t x = 0; x < width; ++x, sums += 4, dst += 4) {
        int64_t alpha = clamp64(round_shift(sums[3]), 0, DOMAIN_MAX);
        for (int c = 0; c < 3; ++c) {
            int64_t colour = clamp64(round_shift(sums[c]), 0, alpha);
            dst[c] = alpha == 0 ? 0 : (uint8_t)((colour * 255 + alpha / 2) / alpha);
        }
        dst[3] = (uint8_t)((alpha + 127) / 255);
    }
}

/* emit_output_row: vertical pass for the next output row, whose source rows are all in the ring. */
static void emit_output_row(booka_image_resampler_t *r)
{
    const booka_image_filter_t *v = &r->vertical;
    uint32_t i = r->next_out_row++;
    size_t n = (size_t)r->out_width * r->channels;
    const int32_t *weights = v->weights + (size_t)i * v->stride;

    memset(r->sums, 0, n * sizeof(*r->sums));
    for (uint32_t k = 0; k < v->count[i]; ++k) {
        const int32_t *row = r->ring + (size_t)((v->first[i] + k - r->row_first) % r->ring_rows) * n;
        int64_t weight = weights[k];
        for (size_t j = 0; j < n; ++j)
            r->sums[j] += weight * row[j];
    }
    from_domain(r->sums, r->out_width, r->channels, r->pixels + (size_t)i * n);
}

/* booka_image_resampler_push_row: hands over the next source row (src_width * channels bytes); rows outside the needed
 * range are only counted. Output rows are produced as soon as their last source row arrives. Rows past src_height are
 * ignored. */
void booka_image_resampler_push_row(booka_image_resampler_t *r, const uint8_t *row)
{
    uint32_t y = r->next_row++;
    if (y < r->row_first || y >= r->row_end)
        return;
    int32_t *slot = r->ring + (size_t)((y - r->row_first) % r->ring_rows) * r->out_width * r->channels;
    to_domain(r, row, r->domain_row);
    if (r->channels == 3)
        filter_horizontally(&r->horizontal, r->domain_row, r->col_first, slot, 3);
    else
        filter_horizontally(&r->horizontal, r->domain_row, r->col_first, slot, 4);
    while (r->next_out_row < r->out_height && r->vertical.first[r->next_out_row] + r->vertical.count[r->next_out_row] <= y + 1)
        emit_output_row(r);
}

/* booka_image_resampler_finish: moves the output into *out (to release with booka_image_pixels_dispose()). Fails with
 * TRUNCATED when the decoder stopped before the last needed source row; *out is then empty. */
booka_image_error_t booka_image_resampler_finish(booka_image_resampler_t *r, booka_image_pixels_t *out)
{
    *out = (booka_image_pixels_t){0};
    if (r->next_out_row != r->out_height)
        return BOOKA_IMAGE_ERROR_TRUNCATED;
    *out = (booka_image_pixels_t){r->pixels, r->out_width, r->out_height, r->channels};
    r->pixels = NULL;
    return BOOKA_IMAGE_OK;
}

/* booka_image_resampler_free: releases everything; safe on NULL. */
void booka_image_resampler_free(booka_image_resampler_t *r)
{
    if (r == NULL)
        return;
    booka_image_filter_dispose(&r->horizontal);
    booka_image_filter_dispose(&r->vertical);
    free(r->domain_row);
    free(r->ring);
    free(r->sums);
    free(r->pixels);
    free(r);
}
