/* orient.c: crop geometry and EXIF orientation: where the displayed centre square lies in the stored image, and turning
 * the stored-orientation thumbnail upright. */
#include <stdlib.h>
#include "internal.h"

/* How an EXIF orientation maps a displayed pixel (x', y') to its stored pixel (sx, sy): with transpose, (a, b) = (y', x')
 * else (x', y'); then sx = flip_x ? W - 1 - a : a and sy = flip_y ? H - 1 - b : b. Index 0 is unused. */
static const struct {
    uint8_t transpose, flip_x, flip_y;
} orientations[9] = {
    {0, 0, 0}, {0, 0, 0}, /* 1: as stored */
    {0, 1, 0},            /* 2: mirrored left-right */
    {0, 1, 1},            /* 3: rotated 180 */
    {0, 0, 1},            /* 4: mirrored top-bottom */
    {1, 0, 0},            /* 5: transposed */
    {1, 0, 1},            /* 6: rotate 90 clockwise to display */
    {1, 1, 1},            /* 7: transversed */
    {1, 1, 0},            /* 8: rotate 90 counter-clockwise to display */
};

/* valid_orientation: orientation itself when 1..8, else 1 (as stored). */
static uint8_t valid_orientation(uint8_t orientation)
{
    return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

/* booka_image_plan_crop: the stored-coordinate square that, once oriented, is the displayed image's centre square, whose
 * offset along the displayed long axis is floor((long - short) / 2). When the orientation reverses that axis, the offset
 * is counted from the other end of the stored axis, so odd differences land on the same pixels as cropping after
 * orienting. Cannot fail. */
void booka_image_plan_crop(uint32_t width, uint32_t height, uint8_t orientation, uint32_t *crop_x, uint32_t *crop_y,
                           uint32_t *crop_side)
{
    uint8_t o = valid_orientation(orientation);
    uint32_t side = width < height ? width : height;
    uint32_t excess = (width > height ? width : height) - side, displayed_offset = excess / 2;
    /* the stored axis carrying the excess is reversed on display when its flip applies */
    int reversed = width > height ? orientations[o].flip_x : orientations[o].flip_y;
    uint32_t offset = reversed ? excess - displayed_offset : displayed_offset;

    *crop_side = side;
    *crop_x = width > height ? offset : 0;
    *crop_y = width > height ? 0 : offset;
}

/* booka_image_apply_orientation: replaces pixels by their displayed form for an EXIF orientation (width and height swap
 * for 5..8). Orientation 1 or an invalid value leaves pixels untouched. Fails with NO_MEMORY, leaving pixels untouched. */
booka_image_error_t booka_image_apply_orientation(booka_image_pixels_t *pixels, uint8_t orientation)
{
    uint8_t o = valid_orientation(orientation);
    if (o == 1)
        return BOOKA_IMAGE_OK;

    uint32_t w = pixels->width, h = pixels->height, ch = pixels->channels;
    uint32_t out_w = orientations[o].transpose ? h : w, out_h = orientations[o].transpose ? w : h;
    uint8_t *out = malloc((size_t)w * h * ch);
    if (out == NULL)
        return BOOKA_IMAGE_ERROR_NO_MEMORY;
    uint8_t *dst = out;
    for (uint32_t y = 0; y < out_h; ++y) {
        for (uint32_t x = 0; x < out_w; ++x, dst += ch) {
            uint32_t a = orientations[o].transpose ? y : x, b = orientations[o].transpose ? x : y;
            uint32_t sx = orientations[o].flip_x ? w - 1 - a : a, sy = orientations[o].flip_y ? h - 1 - b : b;
            const uint8_t *src = pixels->data + ((size_t)sy * w + sx) * ch;
            for (uint32_t c = 0; c < ch; ++c)
                dst[c] = src[c];
        }
    }
    free(pixels->data);
    pixels->data = out;
    pixels->width = out_w;
    pixels->height = out_h;
    return BOOKA_IMAGE_OK;
}

/* booka_image_shrink_factor: the largest integer d <= max_factor that still leaves crop_side / d >= 2 * side, so shrinking
 * while decoding always leaves the Lanczos pass at least a 2:1 reduction to do; 1 when no shrink fits. */
uint32_t booka_image_shrink_factor(uint32_t crop_side, uint32_t side, uint32_t max_factor)
{
    uint64_t factor = side == 0 ? 1 : crop_side / (2 * (uint64_t)side);
    if (factor < 1)
        factor = 1;
    return factor > max_factor ? max_factor : (uint32_t)factor;
}

/* booka_image_scaled_length: what `length` source pixels become when a decoder that scales to any size (libwebp) reduces a
 * crop of crop_side pixels to the smallest size that still leaves >= 2 * side: ceil(length * 2 * side / crop_side), so the
 * crop itself lands on >= 2 * side pixels; `length` unchanged when 2 * side is not below crop_side (or side is 0). The
 * Lanczos pass then always has a reduction of about 2:1 left, whatever the source size, as after a DCT-scaled JPEG decode. */
uint32_t booka_image_scaled_length(uint32_t length, uint32_t crop_side, uint32_t side)
{
    uint64_t target = 2 * (uint64_t)side;

    if (side == 0 || target >= crop_side)
        return length;
    return (uint32_t)(((uint64_t)length * target + crop_side - 1) / crop_side);
}
