/* data_url_fuzz.c: data-URL decoding: bounded output, no overreads, output never larger than the payload allows. */
#include <stdint.h>
#include <stdlib.h>
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (booka_image_decode_data_url((const char *)data, size, &out, &out_len, 1 << 20) == BOOKA_IMAGE_OK) {
        if (out_len > size)
            __builtin_trap();
        free(out);
    }
    return 0;
}
