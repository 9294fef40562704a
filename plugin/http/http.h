/* http.h: what every booka response shares (API.md, top): CORS, Vary: Origin, X-Request-Id, JSON errors, preflight. */
#ifndef BOOKA_HTTP_H
#define BOOKA_HTTP_H

#include "h2o.h"
#include "h2o/configurator.h"
#include "http/json.h"
#include "http/trace.h"

typedef struct booka_http_settings {
    H2O_VECTOR(h2o_iovec_t) cors_origins; /* exact origins allowed a CORS grant; "*" allows any */
    int cors_allow_any;
    unsigned cors_max_age;     /* Access-Control-Max-Age on preflights, seconds */
    h2o_iovec_t public_origin; /* e.g. https://api.example.com; empty for relative URLs */
} booka_http_settings_t;

/* Process-wide, written only while the configuration is applied. */
extern booka_http_settings_t booka_http_settings;

/* booka_http_register_configurator: `booka.cors-origins`, `booka.cors-max-age`, `booka.public-origin`,
 * `booka.trusted-proxies` (http/client.h), and the `booka.not-found` fallback handler (JSON 404 for unknown API paths). */
void booka_http_register_configurator(h2o_globalconf_t *conf);

/* booka_http_attach: makes every response of `pathconf` carry Vary: Origin, the CORS grant and X-Request-Id.
 * Idempotent; every booka handler's configurator calls it for its path. */
void booka_http_attach(h2o_pathconf_t *pathconf);

/* booka_http_on_attach: `cb` also runs for every pathconf booka_http_attach sees (once per pathconf), e.g. so metrics
 * measure every booka path. Call while configurators are registered. */
void booka_http_on_attach(void (*cb)(h2o_pathconf_t *pathconf));

/* booka_http_request_id: the request's id: the client's X-Request-Id when it is sane (1..128 of [A-Za-z0-9._~:+/=-]),
 * else a new random one. Stored back in the request headers so access logs (%{x-request-id}i) see the same value. */
h2o_iovec_t booka_http_request_id(h2o_req_t *req);

/* booka_http_cors_allows: whether `origin` gets a grant. */
int booka_http_cors_allows(h2o_iovec_t origin);

/* booka_http_answer_preflight: for OPTIONS, sends the 204 (with Allow-Methods/Headers/Max-Age when the origin is
 * allowed) and returns 1; for any other method returns 0 and sends nothing. */
int booka_http_answer_preflight(h2o_req_t *req);

/* booka_http_is_head: whether the request is HEAD (answered like GET, without the body). */
int booka_http_is_head(h2o_req_t *req);

/* booka_http_refuse_method: for a method other than GET and HEAD (OPTIONS is the preflight's, answered before), sends
 * 405 with Allow: GET, HEAD, OPTIONS and returns 1; else returns 0 and sends nothing. The read-only endpoints' rule. */
int booka_http_refuse_method(h2o_req_t *req);

/* booka_http_read_query: the request's query string (after '?'; base NULL without one) into *query. One longer than
 * BOOKA_QUERY_MAX bytes is answered 414 here and -1 returned; else 0. */
int booka_http_read_query(h2o_req_t *req, h2o_iovec_t *query);

/* booka_http_reason: the HTTP/1.1 status line's text for `status` (HTTP/2 has none): the standard phrase of the statuses
 * booka and its mruby apps answer, else "OK" below 400 and "Error" from 400. */
const char *booka_http_reason(int status);

/* booka_http_send: sends `body` (which must outlive the request: static or in req->pool) with Content-Length set, and
 * no body for HEAD. Headers already in req->res.headers are kept. `content_type` (or NULL: set by the caller, or none)
 * must be a string literal: its MIME attributes are remembered by its address. */
void booka_http_send(h2o_req_t *req, int status, const char *reason, const char *content_type, h2o_iovec_t body);

/* booka_http_send_error: `{"detail": <detail_json>}` with status/reason; detail_json must be valid JSON. */
void booka_http_send_error(h2o_req_t *req, int status, const char *reason, const char *detail_json);

/* booka_http_send_error_message: `{"detail": "<message>"}`, the message escaped. */
void booka_http_send_error_message(h2o_req_t *req, int status, const char *reason, const char *message);

/* booka_http_send_validation_errors: 422 `{"detail": [...]}` from `errors`, a closed JSON array of FastAPI validation
 * errors (http/query.h), which it frees. Their size is bounded by BOOKA_QUERY_MAX: memory running out aborts. */
void booka_http_send_validation_errors(h2o_req_t *req, booka_buf_t *errors);

/* booka_http_send_query_too_long: 414 JSON, for a query string over BOOKA_QUERY_MAX bytes. */
void booka_http_send_query_too_long(h2o_req_t *req);

/* booka_log: one line on stderr (the error log): "[booka] [module] request-id=<id> message", without the request-id
 * part when req is NULL. The message is flattened to one line (booka_log_flatten) and cut at 2 KiB. Every line the
 * plugin writes while serving goes through here or booka_log_id. */
void booka_log(h2o_req_t *req, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* booka_log_id: the same for work that outlives its request and knows it by id (booka_trace_t); NULL or "" for none. */
void booka_log_id(const char *request_id, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* booka_log_flatten: rewrites s[0..len) as one line: each run of white space holding a line break (libpq's DETAIL and
 * HINT lines, hiredis's messages) becomes one space, trailing white space goes, any other control byte becomes '?'.
 * Returns the new length. */
size_t booka_log_flatten(char *s, size_t len);

#endif
