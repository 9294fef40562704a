/* query.c: form decoding and FastAPI-shaped validation errors. */
#include <stdio.h>
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

#define NAME_MAX_DECODED 64 /* longer than any parameter name: a decoded name that does not fit matches none */

size_t booka_query_param_of(const char *const *names, size_t num_names, const char *name, size_t len)
{
    for (size_t i = 0; i != num_names; ++i)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return i;
    return num_names;
}

void booka_query_scan(const char *query, size_t len, size_t (*param_of)(const char *name, size_t len), size_t num_params,
                      h2o_iovec_t *raw)
{
    for (size_t i = 0; i != num_params; ++i)
        raw[i] = h2o_iovec_init(NULL, 0);
    for (size_t start = 0; query != NULL && start < len;) {
        size_t end = start, eq, name_len;
        char name[NAME_MAX_DECODED];
        while (end < len && query[end] != '&')
            ++end;
        for (eq = start; eq < end && query[eq] != '='; ++eq)
            ;
        if ((name_len = booka_form_decode(query + start, eq - start, name, sizeof(name))) < sizeof(name)) {
            size_t p = param_of(name, name_len);
            if (p < num_params)
                raw[p] = eq < end ? h2o_iovec_init(query + eq + 1, end - eq - 1) : h2o_iovec_init("", 0);
        }
        start = end + 1;
    }
}

int booka_query_int(booka_buf_t *errors, const char *param, const char *v, size_t len, int64_t min, int64_t max, int64_t *out)
{
    size_t i = 0;
    int negative = 0;
    int64_t value = 0;
    char msg[96], ctx[48];

    if (i < len && (v[i] == '+' || v[i] == '-'))
        negative = v[i++] == '-';
    if (i == len)
        goto Invalid;
    for (; i != len; ++i) {
        if (v[i] < '0' || v[i] > '9')
            goto Invalid;
        if (value < INT64_MAX / 10 - 10) /* saturates far above any bound an endpoint checks */
            value = value * 10 + (v[i] - '0');
    }
    if (negative)
        value = -value;
    if (value < min || value > max) {
        snprintf(msg, sizeof(msg), "Input should be %s than or equal to %lld", value < min ? "greater" : "less",
                 (long long)(value < min ? min : max));
        snprintf(ctx, sizeof(ctx), "{\"%s\": %lld}", value < min ? "ge" : "le", (long long)(value < min ? min : max));
        booka_validation_error(errors, value < min ? "greater_than_equal" : "less_than_equal", param, msg, v, len, ctx);
        return -1;
    }
    *out = value;
    return 0;
Invalid:
    booka_validation_error(errors, "int_parsing", param, "Input should be a valid integer, unable to parse string as an integer", v,
                           len, NULL);
    return -1;
}
