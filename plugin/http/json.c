/* json.c: the buffer and JSON string writer. Hand-written because no Debian JSON library writes into a caller's
 * buffer without building a DOM first, and the list endpoint emits bytes straight from database rows. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "h2o/memory.h"
#include "http/json.h"

void booka_buf_or_abort(const booka_buf_t *b)
{
    if (b->oom)
        h2o_fatal("no memory");
}

char *booka_buf_reserve(booka_buf_t *b, size_t extra)
{
    if (b->oom)
        return NULL;
    if (b->cap - b->len < extra) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        char *grown;
        while (cap - b->len < extra)
            cap *= 2;
        if ((grown = realloc(b->base, cap)) == NULL) {
            b->oom = 1;
            return NULL;
        }
        b->base = grown;
        b->cap = cap;
    }
    return b->base + b->len;
}

void booka_buf_append(booka_buf_t *b, const void *data, size_t len)
{
    char *dst = booka_buf_reserve(b, len);
    if (dst != NULL) {
        memcpy(dst, data, len);
        b->len += len;
    }
}

void booka_buf_append_str(booka_buf_t *b, const char *s)
{
    booka_buf_append(b, s, strlen(s));
}

void booka_buf_appendf(booka_buf_t *b, const char *fmt, ...)
{
    va_list args;
    int n;
    char *dst;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (n < 0 || (dst = booka_buf_reserve(b, (size_t)n + 1)) == NULL)
        return;
    va_start(args, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, args);
    va_end(args);
    b->len += n;
}

void booka_buf_append_uint(booka_buf_t *b, uint64_t v)
{
    char digits[20], *p = digits + sizeof(digits);

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    booka_buf_append(b, p, (size_t)(digits + sizeof(digits) - p));
}

void booka_buf_append_hex(booka_buf_t *b, uint64_t v, unsigned digits)
{
    static const char hex[] = "0123456789abcdef";
    char *dst = booka_buf_reserve(b, digits);

    if (dst == NULL)
        return;
    for (unsigned i = digits; i != 0; --i, v >>= 4)
        dst[i - 1] = hex[v & 15];
    b->len += digits;
}

void booka_buf_free(booka_buf_t *b)
{
    free(b->base);
    *b = (booka_buf_t){NULL};
}

size_t booka_utf8_sequence_length(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; ++i)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void booka_json_string(booka_buf_t *b, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    char *dst;

    /* worst case: every byte becomes \u00XX (6) or U+FFFD (3) */
    if ((dst = booka_buf_reserve(b, len * 6 + 2)) == NULL)
        return;
    *dst++ = '"';
    while (s < end) {
        unsigned char c = *s;
        size_t n;
        if (c == '"' || c == '\\') {
            *dst++ = '\\', *dst++ = c, ++s;
        } else if (c < 0x20) {
            static const char short_escapes[] = "btn\0fr"; /* \b \t \n, (vt has none), \f \r */
            if (c >= '\b' && c <= '\r' && c != '\v')
                *dst++ = '\\', *dst++ = short_escapes[c - '\b'];
            else
                dst += sprintf(dst, "\\u%04x", c);
            ++s;
        } else if (c < 0x80) {
            *dst++ = c, ++s;
        } else if ((n = booka_utf8_sequence_length(s, end - s)) != 0) {
            memcpy(dst, s, n), dst += n, s += n;
        } else {
            memcpy(dst, "\xef\xbf\xbd", 3), dst += 3, ++s;
        }
    }
    *dst++ = '"';
    b->len = dst - b->base;
}

void booka_json_int(booka_buf_t *b, int64_t v)
{
    if (v < 0) {
        booka_buf_append(b, "-", 1);
        booka_buf_append_uint(b, (uint64_t)0 - (uint64_t)v); /* INT64_MIN too: its magnitude fits a uint64_t */
    } else {
        booka_buf_append_uint(b, (uint64_t)v);
    }
}
