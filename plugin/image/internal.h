/* internal.h: what the image module's files share: Lanczos filters, the streaming resampler, orientation, decoders. */
#ifndef BOOKA_IMAGE_INTERNAL_H
#define BOOKA_IMAGE_INTERNAL_H

#include "image.h"

/* Filter weights are fixed point with this many fractional bits; each output pixel's weights sum to exactly ONE. */
#define BOOKA_IMAGE_WEIGHT_BITS 14
#define BOOKA_IMAGE_WEIGHT_ONE (1 << BOOKA_IMAGE_WEIGHT_BITS)

/* One axis of a resampling: for output pixel i, source pixels first[i] .. first[i] + count[i] - 1 weighted by
 * weights[i * stride ..]. */
typedef struct booka_image_filter {
    uint32_t out_size;
    uint32_t stride; /* weights allocated per output pixel, >= every count[i] */
    uint32_t *first;
    uint32_t *count;
    int32_t *weights;
} booka_image_filter_t;

/* A rectangle of the source in pixel-edge coordinates: pixel k covers [k, k + 1). Fractional edges let a crop made at full
 * resolution keep its exact place in a shrunk-on-load decode. */
typedef struct booka_image_window {
    double x, y, width, height;
} booka_image_window_t;

/* The square a decoder must deliver, in stored (not yet oriented) full-resolution coordinates. */
typedef struct booka_image_plan {
    const booka_image_info_t *info;
    uint32_t crop_x, crop_y, crop_side;
    uint32_t side;           /* output side */
    int shrink_on_load;      /* decoders may reduce while decoding, keeping >= 2 * side source pixels across the crop */
    size_t max_decode_bytes; /* limits.max_decode_bytes (0: none) */
} booka_image_plan_t;

typedef struct booka_image_resampler booka_image_resampler_t;

/* lanczos.c */
double booka_image_lanczos3(double x);
booka_image_error_t booka_image_filter_init(booka_image_filter_t *filter, uint32_t src_size, double window_start,
                                            double window_size, uint32_t out_size);
void booka_image_filter_dispose(booka_image_filter_t *filter);

/* resample.c */
booka_image_error_t booka_image_resampler_new(booka_image_resampler_t **out, uint32_t src_width, uint32_t src_height,
                                              uint8_t channels, const booka_image_window_t *window, uint32_t out_width,
                                              uint32_t out_height);
void booka_image_resampler_push_row(booka_image_resampler_t *resampler, const uint8_t *row);
booka_image_error_t booka_image_resampler_finish(booka_image_resampler_t *resampler, booka_image_pixels_t *out);
void booka_image_resampler_free(booka_image_resampler_t *resampler);

/* orient.c */
void booka_image_plan_crop(uint32_t width, uint32_t height, uint8_t orientation, uint32_t *crop_x, uint32_t *crop_y,
                           uint32_t *crop_side);
booka_image_error_t booka_image_apply_orientation(booka_image_pixels_t *pixels, uint8_t orientation);
uint32_t booka_image_shrink_factor(uint32_t crop_side, uint32_t side, uint32_t max_factor);
uint32_t booka_image_scaled_length(uint32_t length, uint32_t crop_side, uint32_t side);

/* exif.c */
uint8_t booka_image_exif_orientation(const uint8_t *tiff, size_t len);

/* jpeg.c, png.c, webp.c: each decodes plan->crop_* of src into plan->side square pixels, still in stored orientation. */
booka_image_error_t booka_image_decode_jpeg(const uint8_t *src, size_t len, const booka_image_plan_t *plan,
                                            booka_image_pixels_t *out);
booka_image_error_t booka_image_decode_png(const uint8_t *src, size_t len, const booka_image_plan_t *plan,
                                           booka_image_pixels_t *out);
booka_image_error_t booka_image_decode_webp(const uint8_t *src, size_t len, const booka_image_plan_t *plan,
                                            booka_image_pixels_t *out);
booka_image_error_t booka_image_encode_jpeg(const booka_image_pixels_t *pixels, int quality, int progressive,
                                            booka_image_result_t *out);
booka_image_error_t booka_image_encode_webp(const booka_image_pixels_t *pixels, int quality, booka_image_result_t *out);

#endif
