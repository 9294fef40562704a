/* list_query_fuzz.c: list query parsing and normalisation on arbitrary bytes. Oracle: the canonical form is a fixed
 * point (parsing it again gives the same canonical form), since it is the cache key and must never split or merge
 * entries by accident. */
#include <stdint.h>
#include <string.h>
#include "list/list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    list_request_t first, second;
    booka_buf_t errors = {NULL}, canon = {NULL}, again = {NULL};

    if (list_request_parse(&first, (const char *)data, size, &errors) == LIST_PARSE_OK) {
        list_request_canonical(&first, &canon);
        if (list_request_parse(&second, canon.base, canon.len, &errors) != LIST_PARSE_OK)
            __builtin_trap(); /* the canonical form of a valid request is valid */
        list_request_canonical(&second, &again);
        if (canon.len != again.len || memcmp(canon.base, again.base, canon.len) != 0)
            __builtin_trap();
    }
    booka_buf_free(&errors);
    booka_buf_free(&canon);
    booka_buf_free(&again);
    return 0;
}
