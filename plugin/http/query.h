/* query.h: what every endpoint's query parsing shares: form decoding and FastAPI-shaped validation errors. */
#ifndef BOOKA_QUERY_H
#define BOOKA_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include "h2o.h"
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

/* booka_query_scan: the raw value of the last occurrence of each of an endpoint's `num_params` parameters in the query
 * string (split on '&'; a name is percent-decoded, then param_of says which parameter it is, or num_params for none):
 * raw[i].base NULL when parameter i is absent, an empty value for an occurrence without '='. The values stay encoded
 * (booka_form_decode them). Every booka endpoint reads its query so: the last occurrence wins, an empty one is what the
 * endpoint says (both: absent). param_of is the endpoint's because the avatar's sits on its HIT path (a switch on the
 * letters: comparing with every name in turn was 1.5% of a HIT's CPU, perf, issue 15); booka_query_param_of is the
 * plain lookup in a table of names. */
void booka_query_scan(const char *query, size_t len, size_t (*param_of)(const char *name, size_t len), size_t num_params,
                      h2o_iovec_t *raw);

/* booka_query_param_of: the index of `name` in names[0..num_names), or num_names. */
size_t booka_query_param_of(const char *const *names, size_t num_names, const char *name, size_t len);

/* booka_query_int: `v` as an integer ([+-]digits, nothing else) within [min, max], judged and reported as pydantic does
 * (int_parsing; greater_than_equal / less_than_equal with ctx ge / le) for query parameter `param`. Returns 0 with *out
 * set, or -1 after adding the error to `errors`. */
int booka_query_int(booka_buf_t *errors, const char *param, const char *v, size_t len, int64_t min, int64_t max, int64_t *out);

#endif
