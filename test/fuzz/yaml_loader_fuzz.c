/* yaml_loader_fuzz.c: any bytes given to the config loader either build a tree that frees cleanly or fail with a message. */
#include <stdint.h>
#include <string.h>
#include "config/yaml_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    yoml_t *root;

    /* `!file` would have the fuzzer open arbitrary paths (/dev/zero, FIFOs): includes are unit-tested instead */
    if (memmem(data, size, "!file", 5) != NULL)
        return 0;
    root = booka_yaml_load_string("fuzz.conf", (const char *)data, size, err, sizeof(err));
    if (root != NULL)
        yoml_free(root, NULL);
    else if (strncmp(err, "fuzz.conf", 9) != 0)
        __builtin_trap(); /* every error names the file */
    return 0;
}
