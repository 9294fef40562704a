/* lanczos.c: the Lanczos-3 kernel and its per-axis tables of fixed-point weights. */
#include <math.h>
#include <stdlib.h>
#include "internal.h"

#define LANCZOS_LOBES 3.0
/* Bound on one output pixel's sum of |weight|, which keeps the resampler's 32-bit horizontal sums from overflowing. Lanczos-3
 * stays near 1.2 inside the image; clipped at a window edge it keeps at least half its central lobe (mass ~0.5) against at
 * most both negative lobes (~0.14), so below (0.5 + 0.14) / (0.5 - 0.14) < 1.8 (1.56 is the worst seen); enforced anyway. */
#define MAX_ABSOLUTE_WEIGHT_SUM (2 * BOOKA_IMAGE_WEIGHT_ONE)

/* booka_image_lanczos3: sinc(x) * sinc(x / 3) for |x| < 3, else 0. Computed on |x| so that the kernel is exactly
 * symmetric, which keeps mirrored output pixels' weights mirrored. */
double booka_image_lanczos3(double x)
{
    double ax = fabs(x);
    if (ax < 1e-12)
        return 1.0;
    if (ax >= LANCZOS_LOBES)
        return 0.0;
    double pix = M_PI * ax;
    return LANCZOS_LOBES * sin(pix) * sin(pix / LANCZOS_LOBES) / (pix * pix);
}

/* quantize_weights: rounds count normalised weights to fixed point, then hands the rounding residual out one unit at a time
 * to the taps that rounding moved furthest (largest remainder), so the taps sum to exactly BOOKA_IMAGE_WEIGHT_ONE and each
 * stays within one unit of its exact value. Equal remainders go to the tap nearest the window's centre (tap k lies at
 * offset + k from it), so mirrored output pixels get mirrored taps. Cannot fail. */
static void quantize_weights(const double *weights, uint32_t count, double offset, int32_t *fixed, double *remainders)
{
    int32_t residual = BOOKA_IMAGE_WEIGHT_ONE;
    for (uint32_t k = 0; k < count; ++k) {
        double exact = weights[k] * BOOKA_IMAGE_WEIGHT_ONE;
        fixed[k] = (int32_t)lround(exact);
        remainders[k] = exact - fixed[k];
        residual -= fixed[k];
    }
    for (; residual != 0; residual += residual > 0 ? -1 : 1) {
        int32_t step = residual > 0 ? 1 : -1;
        uint32_t pick = 0;
        for (uint32_t k = 1; k < count; ++k) {
            double better = remainders[k] * step - remainders[pick] * step;
            if (better > 0 || (better == 0 && fabs(offset + k) < fabs(offset + pick)))
                pick = k;
        }
        fixed[pick] += step;
        remainders[pick] -= step;
    }
}

/* absolute_sum: the sum of |weight| over one output pixel's taps. */
static int64_t absolute_sum(const int32_t *fixed, uint32_t count)
{
    int64_t sum = 0;
    for (uint32_t k = 0; k < count; ++k)
        sum += fixed[k] < 0 ? -(int64_t)fixed[k] : fixed[k];
    return sum;
}

/* compute_taps: fills raw (unnormalised) weights for the output pixel centred at `center` (source coordinates) and returns
 * the first source index in *first and the tap count. Taps are the source pixels within the kernel's support that overlap
 * [lo, hi); the kernel is stretched by filter_scale when downscaling. Returns the sum of the weights. */
static double compute_taps(double center, double support, double filter_scale, uint32_t lo, uint32_t hi, double *raw,
                           uint32_t *first, uint32_t *count)
{
    double start = floor(center - support + 0.5), stop = floor(center + support + 0.5);
    uint32_t k0 = start < lo ? lo : (uint32_t)start;
    uint32_t k1 = stop > hi ? hi : (uint32_t)stop;
    double sum = 0;
    *first = k0;
    *count = k1 > k0 ? k1 - k0 : 0;
    for (uint32_t k = k0; k < k1; ++k) {
        raw[k - k0] = booka_image_lanczos3((k + 0.5 - center) / filter_scale);
        sum += raw[k - k0];
    }
    return sum;
}

/* trim_zero_taps: drops zero weights at both ends of one output pixel's taps (they only cost multiplications). */
static void trim_zero_taps(int32_t *fixed, uint32_t *first, uint32_t *count)
{
    uint32_t lead = 0;
    while (lead + 1 < *count && fixed[lead] == 0)
        ++lead;
    while (*count > lead + 1 && fixed[*count - 1] == 0)
        --*count;
    for (uint32_t k = lead; k < *count; ++k)
        fixed[k - lead] = fixed[k];
    *first += lead;
    *count -= lead;
}

/* booka_image_filter_init: builds the weights that resample the window [window_start, window_start + window_size) of a
 * src_size-pixel axis to out_size pixels. Output pixel i is centred at window_start + (i + 0.5) * scale (scale = window_size
 * / out_size); when downscaling the kernel is widened by scale, so the support is 3 * max(scale, 1) source pixels. Taps are
 * limited to the source pixels overlapping the window, as if the window had been cut out first, and renormalised. At
 * scale 1 with an integer window start, every tap but the centre one falls on a zero of the kernel: the table is the
 * identity and a same-size resample is an exact copy, with no special case needed.
 * Fails with BAD_PARAMS for an empty or out-of-range window (or one so small that the weights would exceed
 * MAX_ABSOLUTE_WEIGHT_SUM), NO_MEMORY; on failure *filter owns nothing. */
booka_image_error_t booka_image_filter_init(booka_image_filter_t *filter, uint32_t src_size, double window_start,
                                            double window_size, uint32_t out_size)
{
    booka_image_error_t err = BOOKA_IMAGE_ERROR_BAD_PARAMS;
    double *raw = NULL, *remainders = NULL;
    *filter = (booka_image_filter_t){0};

    if (out_size == 0 || !(window_size > 0) || !(window_start >= 0) || window_start + window_size > src_size + 1e-9)
        goto Error;
    double scale = window_size / out_size, filter_scale = scale > 1.0 ? scale : 1.0;
    double support = LANCZOS_LOBES * filter_scale, window_center = window_start + window_size / 2;
    uint32_t lo = (uint32_t)floor(window_start), hi = (uint32_t)ceil(window_start + window_size - 1e-9);
    if (hi > src_size)
        hi = src_size;

    err = BOOKA_IMAGE_ERROR_NO_MEMORY;
    filter->out_size = out_size;
    filter->stride = (uint32_t)ceil(2 * support) + 1;
    if ((raw = malloc(filter->stride * sizeof(*raw))) == NULL ||
        (remainders = malloc(filter->stride * sizeof(*remainders))) == NULL ||
        (filter->first = malloc(out_size * sizeof(uint32_t))) == NULL ||
        (filter->count = malloc(out_size * sizeof(uint32_t))) == NULL ||
        (filter->weights = malloc((size_t)out_size * filter->stride * sizeof(int32_t))) == NULL)
        goto Error;

    err = BOOKA_IMAGE_ERROR_BAD_PARAMS;
    for (uint32_t i = 0; i < out_size; ++i) {
        double center = window_start + (i + 0.5) * scale;
        double sum = compute_taps(center, support, filter_scale, lo, hi, raw, &filter->first[i], &filter->count[i]);
        if (filter->count[i] == 0 || !(sum > 1e-6))
            goto Error;
        for (uint32_t k = 0; k < filter->count[i]; ++k)
            raw[k] /= sum;
        int32_t *fixed = filter->weights + (size_t)i * filter->stride;
        quantize_weights(raw, filter->count[i], filter->first[i] + 0.5 - window_center, fixed, remainders);
        trim_zero_taps(fixed, &filter->first[i], &filter->count[i]);
        if (absolute_sum(fixed, filter->count[i]) > MAX_ABSOLUTE_WEIGHT_SUM)
            goto Error;
    }
    free(raw);
    free(remainders);
    return BOOKA_IMAGE_OK;

Error:
    free(raw);
    free(remainders);
    booka_image_filter_dispose(filter);
    return err;
}

/* booka_image_filter_dispose: releases the tables; safe on a zeroed or already disposed filter. */
void booka_image_filter_dispose(booka_image_filter_t *filter)
{
    free(filter->first);
    free(filter->count);
    free(filter->weights);
    *filter = (booka_image_filter_t){0};
}
