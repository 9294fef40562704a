/* json.h: a growable byte buffer and the JSON writer every booka response body is built with. */
#ifndef BOOKA_JSON_H
#define BOOKA_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct booka_buf {
    char *base;
    size_t len, cap;
    int oom; /* set once an allocation failed; every later append is a no-op, so callers check once at the end */
} booka_buf_t;

/* Out of memory, the one rule (docs/ARCHITECTURE.md, "Out of memory"): an allocation whose size the code or the
 * configuration bounds aborts when memory runs out, as libh2o's h2o_mem_alloc does (h2o_fatal); only one whose size the
 * input decides (image buffers, fetched bodies, data URLs, a cached or rendered body) fails gracefully, and the request
 * then answers 503 BOOKA_OUT_OF_MEMORY with Retry-After. A booka_buf_t is the second kind by default (it keeps `oom`); a
 * buffer of the first kind says so with booka_buf_or_abort once it is written. */

/* BOOKA_OUT_OF_MEMORY: the JSON message of that 503, the same wherever it is answered. */
#define BOOKA_OUT_OF_MEMORY "the server is short of memory, try again"

/* booka_buf_or_abort: aborts (h2o_fatal) if `b` ran out of memory; for a buffer whose size the code or the configuration
 * bounds (a cache key, an error body, SQL text, a metrics page). */
void booka_buf_or_abort(const booka_buf_t *b);

/* booka_buf_reserve: room for `extra` more bytes; returns NULL (and sets oom) when memory runs out. */
char *booka_buf_reserve(booka_buf_t *b, size_t extra);
void booka_buf_append(booka_buf_t *b, const void *data, size_t len);
void booka_buf_append_str(booka_buf_t *b, const char *s);
void booka_buf_appendf(booka_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* booka_buf_append_uint: `v` in decimal; booka_buf_append_hex: `v` in `digits` lower-case hex digits (zero-padded, the
 * low digits when it has more). Hand-written rather than appendf: they sit on the cache-HIT path, where printf's format
 * parsing (appendf runs vsnprintf twice) was a tenth of the CPU of a list HIT (perf, issue 15). */
void booka_buf_append_uint(booka_buf_t *b, uint64_t v);
void booka_buf_append_hex(booka_buf_t *b, uint64_t v, unsigned digits);
void booka_buf_free(booka_buf_t *b);

/* booka_json_string: appends `s` as a JSON string literal: quotes, backslashes and control characters escaped, and any
 * byte sequence that is not well-formed UTF-8 replaced by U+FFFD, so the output is always valid JSON. */
void booka_json_string(booka_buf_t *b, const char *s, size_t len);

/* booka_utf8_sequence_length: the length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 when the bytes there (at most `avail`) are not one. */
size_t booka_utf8_sequence_length(const unsigned char *s, size_t avail);

/* booka_json_int: appends a decimal integer. */
void booka_json_int(booka_buf_t *b, int64_t v);

#endif
