/* http.c: CORS, Vary, X-Request-Id, preflight and JSON errors for every booka response. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "http/http.h"
#include "http/json.h"
#include "http/query.h"

booka_http_settings_t booka_http_settings = {.cors_max_age = 600};

/* request_id_chars: the bytes an echoed id may hold (a table: this runs for every byte of every response's id) */
static const unsigned char request_id_chars[256] = {
    ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
    [':'] = 1,         ['+'] = 1,         ['/'] = 1,         ['='] = 1, ['-'] = 1,
};

/* is_sane_request_id: what we echo must not carry CRLF, quotes or megabytes into headers and logs. */
static int is_sane_request_id(h2o_iovec_t id)
{
    if (id.len == 0 || id.len > BOOKA_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i != id.len; ++i)
        if (!request_id_chars[(unsigned char)id.base[i]])
            return 0;
    return 1;
}

/* random_bytes: per-thread xoshiro256** seeded once from getrandom, so a request id costs no system call. Not for
 * secrets: ids only need to be unique and unguessable enough not to collide. Hand-written: eight lines, and OpenSSL's
 * RAND_bytes takes a lock per call. */
static void random_bytes(unsigned char *out, size_t len)
{
    static __thread uint64_t s[4];
    static __thread int seeded;

    if (!seeded) {
        if (getrandom(s, sizeof(s), 0) != sizeof(s))
            s[0] = (uint64_t)time(NULL) ^ (uintptr_t)&seeded, s[1] = 0x9e3779b97f4a7c15ULL, s[2] = 1, s[3] = 2;
        seeded = 1;
    }
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = s[1] * 5, t = s[1] << 17;
        r = (r << 7 | r >> 57) * 9;
        s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = s[3] << 45 | s[3] >> 19;
        memcpy(out + i, &r, len - i < 8 ? len - i : 8);
    }
}

h2o_iovec_t booka_http_request_id(h2o_req_t *req)
{
    static const char hex[] = "0123456789abcdef";
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    unsigned char raw[16];
    h2o_iovec_t id;

    if (i != -1 && is_sane_request_id(req->headers.entries[i].value))
        return req->headers.entries[i].value;
    random_bytes(raw, sizeof(raw));
    id = h2o_iovec_init(h2o_mem_alloc_pool(&req->pool, sizeof(raw) * 2), sizeof(raw) * 2);
    for (size_t k = 0; k != sizeof(raw); ++k) {
        id.base[k * 2] = hex[raw[k] >> 4];
        id.base[k * 2 + 1] = hex[raw[k] & 15];
    }
    if (i != -1)
        req->headers.entries[i].value = id;
    else
        h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-request-id"), 0, NULL, id.base, id.len);
    return id;
}

int booka_http_cors_allows(h2o_iovec_t origin)
{
    if (origin.len == 0 || origin.len > 512 || memchr(origin.base, '\r', origin.len) || memchr(origin.base, '\n', origin.len) ||
        memchr(origin.base, '\0', origin.len))
        return 0;
    if (booka_http_settings.cors_allow_any)
        return 1;
    for (size_t i = 0; i != booka_http_settings.cors_origins.size; ++i)
        if (h2o_memis(origin.base, origin.len, booka_http_settings.cors_origins.entries[i].base,
                      booka_http_settings.cors_origins.entries[i].len))
            return 1;
    return 0;
}

/* request_origin: the Origin header, or an empty iovec. */
static h2o_iovec_t request_origin(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    return i == -1 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

/* add_vary_origin: merges Origin into an existing Vary (e.g. the avatar's "Accept") rather than adding a second one. */
static void add_vary_origin(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_VARY, -1);
    if (i == -1) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Origin"));
    } else if (h2o_strstr(req->res.headers.entries[i].value.base, req->res.headers.entries[i].value.len, H2O_STRLIT("Origin")) ==
               SIZE_MAX) {
        h2o_iovec_t v = req->res.headers.entries[i].value;
        req->res.headers.entries[i].value = h2o_concat(&req->pool, v, h2o_iovec_init(H2O_STRLIT(", Origin")));
    }
}

/* stamp_response: the headers API.md puts on every response. */
static void stamp_response(h2o_req_t *req)
{
    h2o_iovec_t origin = request_origin(req), id = booka_http_request_id(req);

    add_vary_origin(req);
    if (booka_http_cors_allows(origin)) {
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, origin.base, origin.len, 0);
        h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-credentials"), 0, H2O_STRLIT("true"),
                              0);
    }
    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, id.base, id.len, 0);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    stamp_response(req);
    h2o_setup_next_ostream(req, slot);
}

static int is_attached(h2o_pathconf_t *pathconf)
{
    for (size_t i = 0; i != pathconf->filters.size; ++i)
        if (pathconf->filters.entries[i]->on_setup_ostream == on_setup_ostream)
            return 1;
    return 0;
}

typedef void (*attach_cb)(h2o_pathconf_t *pathconf);
static H2O_VECTOR(attach_cb) attach_hooks;

void booka_http_on_attach(void (*cb)(h2o_pathconf_t *pathconf))
{
    h2o_vector_reserve(NULL, &attach_hooks, attach_hooks.size + 1);
    attach_hooks.entries[attach_hooks.size++] = cb;
}

void booka_http_attach(h2o_pathconf_t *pathconf)
{
    if (is_attached(pathconf))
        return;
    h2o_create_filter(pathconf, sizeof(h2o_filter_t))->on_setup_ostream = on_setup_ostream;
    for (size_t i = 0; i != attach_hooks.size; ++i)
        attach_hooks.entries[i](pathconf);
}

int booka_http_is_head(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

int booka_http_refuse_method(h2o_req_t *req)
{
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) || booka_http_is_head(req))
        return 0;
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, H2O_STRLIT("GET, HEAD, OPTIONS"), 0);
    booka_http_send_error_message(req, 405, "Method Not Allowed", "Method Not Allowed");
    return 1;
}

int booka_http_read_query(h2o_req_t *req, h2o_iovec_t *query)
{
    if (req->query_at == SIZE_MAX) {
        *query = h2o_iovec_init(NULL, 0);
        return 0;
    }
    *query = h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    if (query->len <= BOOKA_QUERY_MAX)
        return 0;
    booka_http_send_query_too_long(req);
    return -1;
}

/* is_field_name_list: whether `v` is `#field-name` (RFC 9110 5.6.1: tokens separated by commas, optional white space
 * around them), at most 1024 bytes: the only Access-Control-Request-Headers value a preflight echoes back. */
static int is_field_name_list(h2o_iovec_t v)
{
    enum { BEFORE_TOKEN, IN_TOKEN, AFTER_TOKEN } state = BEFORE_TOKEN;

    if (v.len > 1024)
        return 0;
    for (size_t i = 0; i != v.len; ++i) {
        unsigned char c = (unsigned char)v.base[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL)) {
            if (state == AFTER_TOKEN)
                return 0; /* two tokens without a comma between them */
            state = IN_TOKEN;
        } else if (c == ' ' || c == '\t') {
            if (state == IN_TOKEN)
                state = AFTER_TOKEN;
        } else if (c == ',') {
            state = BEFORE_TOKEN;
        } else {
            return 0;
        }
    }
    return 1;
}

int booka_http_answer_preflight(h2o_req_t *req)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")))
        return 0;
    if (booka_http_cors_allows(request_origin(req))) {
        char *max_age = h2o_mem_alloc_pool(&req->pool, 16);
        ssize_t asked = h2o_find_header_by_str(&req->headers, H2O_STRLIT("access-control-request-headers"), -1);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"), 0, NULL,
                              H2O_STRLIT("GET, HEAD, OPTIONS"));
        if (asked != -1 && is_field_name_list(req->headers.entries[asked].value))
            h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"), 0, NULL,
                                  req->headers.entries[asked].value.base, req->headers.entries[asked].value.len);
        else
            h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"), 0, NULL,
                                  H2O_STRLIT("Content-Type, If-None-Match, X-Request-Id"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"), 0, NULL, max_age,
                              sprintf(max_age, "%u", booka_http_settings.cors_max_age));
    }
    booka_http_send(req, 204, "No Content", NULL, h2o_iovec_init(NULL, 0));
    return 1;
}

/* set_mime_attributes: what libh2o's h2o_req_fill_mime_attributes would find for `content_type` (a lookup in the
 * path's MIME map by type: 1.5% of a list HIT's CPU), remembered per thread for the last map and type string seen. The
 * answer depends on those two alone, and both live as long as the configuration. */
static void set_mime_attributes(h2o_req_t *req, const char *content_type)
{
    static __thread const h2o_mimemap_t *map;
    static __thread const char *type;
    static __thread h2o_mime_attributes_t *attr;

    if (req->pathconf == NULL || req->pathconf->mimemap == NULL)
        return;
    if (map != req->pathconf->mimemap || type != content_type) {
        h2o_mimemap_type_t *mime =
            h2o_mimemap_get_type_by_mimetype(req->pathconf->mimemap, h2o_iovec_init(content_type, strlen(content_type)), 0);
        if (mime == NULL)
            return;
        map = req->pathconf->mimemap, type = content_type, attr = &mime->data.attr;
    }
    req->res.mime_attr = attr;
}

const char *booka_http_reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } phrases[] = {{200, "OK"},
                   {201, "Created"},
                   {202, "Accepted"},
                   {204, "No Content"},
                   {301, "Moved Permanently"},
                   {302, "Found"},
                   {303, "See Other"},
                   {304, "Not Modified"},
                   {307, "Temporary Redirect"},
                   {308, "Permanent Redirect"},
                   {400, "Bad Request"},
                   {401, "Unauthorized"},
                   {403, "Forbidden"},
                   {404, "Not Found"},
                   {405, "Method Not Allowed"},
                   {409, "Conflict"},
                   {410, "Gone"},
                   {422, "Unprocessable Entity"},
                   {429, "Too Many Requests"},
                   {500, "Internal Server Error"},
                   {502, "Bad Gateway"},
                   {503, "Service Unavailable"},
                   {504, "Gateway Timeout"}};

    for (size_t i = 0; i != sizeof(phrases) / sizeof(phrases[0]); ++i)
        if (phrases[i].status == status)
            return phrases[i].reason;
    return status < 400 ? "OK" : "Error";
}

void booka_http_send(h2o_req_t *req, int status, const char *reason, const char *content_type, h2o_iovec_t body)
{
    static h2o_generator_t generator = {NULL, NULL};

    req->res.status = status;
    req->res.reason = reason;
    /* RFC 9110 8.6: no Content-Length on 204, and on 304 it would describe a body the client does not get */
    req->res.content_length = status == 204 || status == 304 ? SIZE_MAX : body.len;
    if (content_type != NULL) {
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, content_type, strlen(content_type), 0);
        set_mime_attributes(req, content_type);
    }
    h2o_start_response(req, &generator);
    if (booka_http_is_head(req) || status == 304 || status == 204)
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

void booka_http_send_error(h2o_req_t *req, int status, const char *reason, const char *detail_json)
{
    size_t len = strlen(detail_json);
    char *body = h2o_mem_alloc_pool(&req->pool, len + 13);

    memcpy(body, "{\"detail\": ", 11);
    memcpy(body + 11, detail_json, len);
    memcpy(body + 11 + len, "}", 2);
    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("cache-control"), 0, H2O_STRLIT("no-store"), 1);
    booka_http_send(req, status, reason, "application/json", h2o_iovec_init(body, len + 12));
}

void booka_http_send_error_message(h2o_req_t *req, int status, const char *reason, const char *message)
{
    booka_buf_t b = {NULL};
    char *json;

    booka_json_string(&b, message, strlen(message));
    booka_buf_append(&b, "", 1);
    booka_buf_or_abort(&b); /* one of our messages: fixed size */
    json = h2o_strdup(&req->pool, b.base, b.len).base;
    booka_buf_free(&b);
    booka_http_send_error(req, status, reason, json);
}

void booka_http_send_validation_errors(h2o_req_t *req, booka_buf_t *errors)
{
    booka_buf_append(errors, "", 1);
    booka_buf_or_abort(errors); /* bounded by the query string's BOOKA_QUERY_MAX bytes */
    booka_http_send_error(req, 422, "Unprocessable Entity", h2o_strdup(&req->pool, errors->base, errors->len).base);
    booka_buf_free(errors);
}

void booka_http_send_query_too_long(h2o_req_t *req)
{
    char message[64];
    snprintf(message, sizeof(message), "the query string is longer than %d bytes", BOOKA_QUERY_MAX);
    booka_http_send_error_message(req, 414, "URI Too Long", message);
}

static int is_white(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t booka_log_flatten(char *s, size_t len)
{
    size_t out = 0, i = 0;

    while (i != len) {
        size_t end = i;
        int breaks = 0;
        if (!is_white(s[i])) {
            s[out++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
            ++i;
            continue;
        }
        for (; end != len && is_white(s[end]); ++end)
            breaks |= s[end] == '\r' || s[end] == '\n';
        if (end == len)
            break; /* trailing white space (libpq's messages end with a newline) */
        if (breaks) {
            s[out++] = ' ';
        } else {
            memmove(s + out, s + i, end - i);
            out += end - i;
        }
        i = end;
    }
    return out;
}

/* vlog: the one writer of the plugin's error-log lines: prefix, request id, the message flattened to one line, and a
 * single write(2), so lines from several threads never interleave. */
static void vlog(h2o_iovec_t request_id, const char *module, const char *fmt, va_list args)
{
    char line[2048];
    size_t prefix, len;
    int n;

    if (request_id.len != 0)
        n = snprintf(line, sizeof(line), "[booka] [%s] request-id=%.*s ", module, (int)request_id.len, request_id.base);
    else
        n = snprintf(line, sizeof(line), "[booka] [%s] ", module);
    prefix = n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0;
    n = vsnprintf(line + prefix, sizeof(line) - prefix, fmt, args);
    len = n < 0 ? 0 : (size_t)n < sizeof(line) - prefix ? (size_t)n : sizeof(line) - prefix - 1;
    len = prefix + booka_log_flatten(line + prefix, len);
    line[len++] = '\n';
    while (write(STDERR_FILENO, line, len) == -1 && errno == EINTR)
        ;
}

void booka_log(h2o_req_t *req, const char *module, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    vlog(req != NULL ? booka_http_request_id(req) : h2o_iovec_init(NULL, 0), module, fmt, args);
    va_end(args);
}

void booka_log_id(const char *request_id, const char *module, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    vlog(h2o_iovec_init(request_id, request_id != NULL ? strlen(request_id) : 0), module, fmt, args);
    va_end(args);
}
