/* pixels.c: the buffers the image module hands out (decoded pixels, encoded results) and their release. It sits below the
 * decoders and the pipeline alike, so neither calls back into the other to free what it made. */
#include <stdlib.h>
#include "image.h"

/* booka_image_pixels_dispose: frees what a decoder, the resampler or booka_image_render() made, and empties *pixels, so a
 * second call is harmless. */
void booka_image_pixels_dispose(booka_image_pixels_t *pixels)
{
    free(pixels->data);
    *pixels = (booka_image_pixels_t){0};
}

/* booka_image_result_dispose: frees an encoded result and empties *result; a second call is harmless. */
void booka_image_result_dispose(booka_image_result_t *result)
{
    free(result->bytes);
    *result = (booka_image_result_t){0};
}
