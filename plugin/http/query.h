/* query.h: what every endpoint's query parsing shares: form decoding and FastAPI-shaped validation errors. */
#ifndef BOOKA_QUERY_H
#define BOOKA_QUERY_H

#include <stddef.h>
#include "http/json.h"

#define BOOKA_QUERY_MAX 8192 /* bytes of query string an endpoint reads; a longer one is 414 */

/* booka_hex_value: the value of one hex digit, or -1. */
int booka_hex_value(int c);

/* booka_form_decode: application/x-www-form-urlencoded: '+' is a space, %XX a byte, a malformed escape stays as it is
 * (as Python's unquote_plus leaves it). Writes at most `cap` bytes to `out` and returns the full decoded length, so a
 * caller sees when it was cut (with cap >= len nothing is). */
size_t booka_form_decode(const char *in, size_t len, char *out, size_t cap);

/* booka_validation_error: appends one entry of FastAPI's 422 `detail` array to `errors` (opening it with '[' when empty;
 * the caller closes it): {"type", "loc": ["query", param], "msg", "input"[, "ctx": ctx_json]}. */
void booka_validation_error(booka_buf_t *errors, const char *type, const char *param, const char *msg, const char *input,
                            size_t input_len, const char *ctx_json);

#endif
