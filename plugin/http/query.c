/* query.c: form decoding and FastAPI-shaped validation errors. */
#include <string.h>
#include "http/query.h"

int booka_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t booka_form_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i != len; ++i, ++n) {
        int hi, lo;
        char c = in[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len && (hi = booka_hex_value((unsigned char)in[i + 1])) != -1 &&
                   (lo = booka_hex_value((unsigned char)in[i + 2])) != -1) {
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n < cap)
            out[n] = c;
    }
    return n;
}

void booka_validation_error(booka_buf_t *errors, const char *type, const char *param, const char *msg, const char *input,
                            size_t input_len, const char *ctx_json)
{
    booka_buf_append_str(errors, errors->len == 0 ? "[" : ", ");
    booka_buf_appendf(errors, "{\"type\": \"%s\", \"loc\": [\"query\", \"%s\"], \"msg\": ", type, param);
    booka_json_string(errors, msg, strlen(msg));
    booka_buf_append_str(errors, ", \"input\": ");
    booka_json_string(errors, input, input_len);
    if (ctx_json != NULL)
        booka_buf_appendf(errors, ", \"ctx\": %s", ctx_json);
    booka_buf_append_str(errors, "}");
}
