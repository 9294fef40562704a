/* etag_fuzz.c: If-None-Match evaluation never reads out of bounds, and a field never matches a tag it does not list. */
#include <stdint.h>
#include <string.h>
#include "http/etag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h2o_iovec_t field = h2o_iovec_init((const char *)data, size);
    int any = booka_etag_field_matches(field, h2o_iovec_init(H2O_STRLIT("W/\"0123456789abcdef\"")));
    /* "*" aside, a match needs the opaque tag in the field */
    if (any && memchr(data, '*', size) == NULL && h2o_strstr((const char *)data, size, H2O_STRLIT("\"0123456789abcdef\"")) == SIZE_MAX)
        __builtin_trap();
    return 0;
}
