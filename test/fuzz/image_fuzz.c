/* image_fuzz.c: every decoder, then crop, Lanczos and both encoders, on arbitrary bytes, with small limits so a fuzzer
 * cannot spend its time on legitimately huge images. */
#include <stdint.h>
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const booka_image_limits_t limits = {.max_source_bytes = 1 << 20, .max_source_pixels = 1 << 20,
                                                .max_source_side = 4096, .max_output_side = 256};
    booka_image_info_t info;
    booka_image_result_t result;
    booka_image_params_t params = {.limits = &limits, .quality = 50};

    if (size < 1)
        return 0;
    params.format = data[0] & 1 ? BOOKA_IMAGE_OUTPUT_WEBP : BOOKA_IMAGE_OUTPUT_JPEG;
    if (booka_image_probe(data + 1, size - 1, &info) != BOOKA_IMAGE_OK)
        return 0;
    params.side = booka_image_output_side(16 + data[0] % 64, 1, info.width < info.height ? info.width : info.height, 256);
    if (params.side == 0)
        return 0;
    if (booka_image_thumbnail(data + 1, size - 1, &params, &result) == BOOKA_IMAGE_OK) {
        if (result.side != params.side || result.len == 0)
            __builtin_trap();
        booka_image_result_dispose(&result);
    }
    return 0;
}
