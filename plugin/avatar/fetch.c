/* fetch.c: GET of an http(s) picture URL on the event loop with libh2o's HTTP/1 client, bounded in time (connect, silence,
 * total) and in bytes; the answer is mapped to ours: upstream 404/410 → 404, too large → 422, timeout → 504, else 502.
 *
 * Where it connects: the host is resolved here (off the loop, libh2o's resolver threads), every address it resolves to
 * must be allowed (address.c), and the client then connects to the checked address itself: a socket pool made for that
 * one address (libh2o 2.2's only way to hand its HTTP/1 client an address instead of a name), whose peer name stays the
 * URL's host for TLS (SNI and certificate name). So a name cannot resolve to one address when checked and another when
 * connected (DNS rebinding), and `[unix:/path]` hosts, which libh2o would connect to as a local socket, never reach it.
 * A source refused for its address answers exactly like one that cannot be reached, so the answers map no network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include "h2o/socketpool.h"
#include "avatar/internal.h"
#include "http/http.h"
#include "metrics/metrics.h"

/* fetch_pool_t: the socket pool of one fetch. Its sockets tell it when they are closed, which libh2o may do after the
 * fetch is over, so it is freed only once it has none (reap_pool). */
typedef struct fetch_pool {
    h2o_socketpool_t pool;
    h2o_timeout_entry_t reap;
    avatar_context_t *actx;
} fetch_pool_t;

typedef struct avatar_fetch {
    avatar_context_t *actx;
    h2o_hostinfo_getaddr_req_t *lookup; /* the name's resolution while it runs */
    fetch_pool_t *pool;                 /* once connecting */
    h2o_iovec_t host;                   /* owned: the URL's host (the TLS peer name) */
    uint16_t port;
    int is_ssl;
    h2o_http1client_t *client;    /* NULL once the client is gone */
    h2o_timeout_entry_t deadline; /* the whole fetch */
    h2o_iovec_t request;          /* owned request bytes; the client writes them after connecting */
    uint8_t *body;
    size_t len, cap, max_bytes;
    booka_trace_t *trace;
    uint64_t started_at; /* booka_clock_us */
    avatar_fetch_cb cb;
    void *data;
} avatar_fetch_t;

static booka_histogram_t fetch_duration;
static _Atomic uint64_t refused_total;

/* reap_pool: frees the pool once no socket of it is left (they are counted from connect to close), else looks again. */
static void reap_pool(h2o_timeout_entry_t *entry)
{
    fetch_pool_t *p = H2O_STRUCT_FROM_MEMBER(fetch_pool_t, reap, entry);

    /* _shared.count is libh2o's own count of the pool's sockets (socketpool.h); reading it is the only way to know */
    if (__sync_add_and_fetch(&p->pool._shared.count, 0) != 0) {
        h2o_timeout_link(p->actx->ctx->loop, &p->actx->fetch_io_timeout, &p->reap);
        return;
    }
    h2o_socketpool_dispose(&p->pool);
    free(p);
}

/* finish: reports once and frees the fetch (the client must already be gone or be cancelled here). */
static void finish(avatar_fetch_t *f, int status, const char *message)
{
    if (f->lookup != NULL) {
        h2o_hostinfo_getaddr_cancel(f->lookup);
        f->lookup = NULL;
    }
    if (f->client != NULL) {
        h2o_http1client_cancel(f->client);
        f->client = NULL;
    }
    if (f->pool != NULL) { /* freed on a later turn of the loop: the client may close its socket after this call */
        f->pool->reap.cb = reap_pool;
        h2o_timeout_link(f->actx->ctx->loop, &f->actx->fetch_io_timeout, &f->pool->reap);
        f->pool = NULL;
    }
    free(f->host.base);
    if (h2o_timeout_is_linked(&f->deadline))
        h2o_timeout_unlink(&f->deadline);
    f->trace->fetch_us += booka_histogram_observe_since(&fetch_duration, f->started_at);
    f->cb(f->data, status, message, status == 200 ? f->body : NULL, status == 200 ? f->len : 0);
    if (status != 200)
        free(f->body);
    free(f->request.base);
    free(f);
}

/* status_of_client_error: a libh2o client error string as our status: its timeouts are 504, anything else 502. */
static int status_of_client_error(const char *errstr)
{
    return strstr(errstr, "timeout") != NULL ? 504 : 502;
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    avatar_fetch_t *f = H2O_STRUCT_FROM_MEMBER(avatar_fetch_t, deadline, entry);
    finish(f, 504, "the picture's server did not answer in time");
}

/* append_body: takes what the client buffered. Returns 0, or -1 when over the byte limit or out of memory. */
static int append_body(avatar_fetch_t *f, h2o_buffer_t **input)
{
    size_t n = (*input)->size;

    if (n == 0)
        return 0;
    if (n > f->max_bytes - f->len)
        return -1;
    if (f->len + n > f->cap) {
        size_t cap = f->cap != 0 ? f->cap : 64 * 1024;
        uint8_t *p;
        while (cap < f->len + n)
            cap *= 2;
        if (cap > f->max_bytes)
            cap = f->max_bytes;
        if ((p = realloc(f->body, cap)) == NULL)
            return -1;
        f->body = p;
        f->cap = cap;
    }
    memcpy(f->body + f->len, (*input)->bytes, n);
    f->len += n;
    h2o_buffer_consume(input, n);
    return 0;
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    avatar_fetch_t *f = client->data;

    if (client->sock != NULL && append_body(f, &client->sock->input) != 0) {
        f->client = NULL; /* returning -1 closes it */
        finish(f, 422, booka_image_strerror(BOOKA_IMAGE_ERROR_TOO_MANY_BYTES));
        return -1;
    }
    if (errstr == NULL)
        return 0;
    f->client = NULL; /* the client closes itself after this call */
    if (errstr == h2o_http1client_error_is_eos)
        finish(f, 200, NULL);
    else
        finish(f, status_of_client_error(errstr), "the picture's server failed while sending it");
    return 0;
}

/* content_length_of: the Content-Length header's value, or SIZE_MAX when there is none. */
static size_t content_length_of(h2o_header_t *headers, size_t num_headers)
{
    for (size_t i = 0; i != num_headers; ++i)
        if (headers[i].name == &H2O_TOKEN_CONTENT_LENGTH->buf)
            return h2o_strtosize(headers[i].value.base, headers[i].value.len);
    return SIZE_MAX;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t num_headers, int rlen)
{
    avatar_fetch_t *f = client->data;
    size_t content_length;

    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        f->client = NULL;
        finish(f, status_of_client_error(errstr), "the picture's server did not answer");
        return NULL;
    }
    if (status != 200) {
        f->client = NULL; /* returning NULL closes it */
        finish(f, status == 404 || status == 410 ? 404 : 502,
               status == 404 || status == 410 ? "the picture was not found upstream"
                                              : "the picture's server answered with an error");
        return NULL;
    }
    if ((content_length = content_length_of(headers, num_headers)) != SIZE_MAX && content_length > f->max_bytes) {
        f->client = NULL;
        finish(f, 422, booka_image_strerror(BOOKA_IMAGE_ERROR_TOO_MANY_BYTES));
        return NULL;
    }
    if (errstr == h2o_http1client_error_is_eos) { /* an empty body; the client closes after this call */
        f->client = NULL;
        finish(f, 200, NULL);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs, size_t *reqbufcnt,
                                          int *method_is_head)
{
    avatar_fetch_t *f = client->data;

    if (errstr != NULL) {
        f->client = NULL;
        finish(f, status_of_client_error(errstr), "the picture's server cannot be reached");
        return NULL;
    }
    *reqbufs = &f->request;
    *reqbufcnt = 1;
    *method_is_head = 0;
    return on_head;
}

/* is_header_safe: whether text may go into a request line or header as it is (no controls, no spaces). */
static int is_header_safe(h2o_iovec_t s)
{
    for (size_t i = 0; i != s.len; ++i)
        if ((unsigned char)s.base[i] <= 0x20 || s.base[i] == 0x7f)
            return 0;
    return 1;
}

/* build_request: the GET for `url`; returns the request bytes (malloc'd) or an empty iovec. */
static h2o_iovec_t build_request(const h2o_url_t *url)
{
    static const char format[] = "GET %.*s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: booka-origin\r\n"
                                 "Accept: image/webp,image/jpeg,image/png,image/*;q=0.8\r\nConnection: close\r\n\r\n";
    h2o_iovec_t path = url->path.len != 0 ? url->path : h2o_iovec_init(H2O_STRLIT("/"));
    size_t cap = sizeof(format) + path.len + url->authority.len;
    char *buf;
    int n;

    if ((buf = malloc(cap)) == NULL)
        return h2o_iovec_init(NULL, 0);
    n = snprintf(buf, cap, format, (int)path.len, path.base, (int)url->authority.len, url->authority.base);
    return h2o_iovec_init(buf, (size_t)n);
}

/* refuse: the source's address is not one a fetch may reach; answered like an unreachable server (see the top). */
static void refuse(avatar_fetch_t *f, const char *why)
{
    atomic_fetch_add(&refused_total, 1);
    booka_log(NULL, "avatar", "refused to fetch from %s: %s (booka.avatar fetch-allow)", f->host.base, why);
    finish(f, 502, "the picture's server cannot be reached");
}

/* connect_to: connects the client to `sa` (an allowed address), TLS naming the URL's host. */
static void connect_to(avatar_fetch_t *f, struct sockaddr *sa, socklen_t salen)
{
    fetch_pool_t *p = h2o_mem_alloc(sizeof(*p));

    *p = (fetch_pool_t){.actx = f->actx};
    h2o_socketpool_init_by_address(&p->pool, sa, salen, f->is_ssl, 1);
    /* a pool without a loop of its own crashes in h2o_socketpool_connect (libh2o 2.2.5 reads its loop's clock to expire
     * idle sockets); this one never keeps any (Connection: close) */
    h2o_socketpool_set_timeout(&p->pool, f->actx->ctx->loop, 1000);
    /* the pool's peer name is what the client sends as SNI and checks the certificate against (socketpool.h) */
    free(p->pool.peer.host.base);
    p->pool.peer.host = h2o_strdup(NULL, f->host.base, f->host.len);
    f->pool = p;
    h2o_http1client_connect_with_pool(&f->client, f, &f->actx->client_ctx, &p->pool, on_connect);
}

/* on_resolved: every address the name has must be allowed (a name that also resolves to a private address is refused
 * whichever the client would have picked); then the client connects to one of them. */
static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    avatar_fetch_t *f = data;

    f->lookup = NULL;
    if (errstr != NULL) {
        finish(f, 502, "the picture's server cannot be reached");
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (!avatar_address_allowed(&f->actx->handler->conf, ai->ai_addr)) {
            refuse(f, "it resolves to an address that is not public");
            return;
        }
    }
    struct addrinfo *selected = h2o_hostinfo_select_one(res);
    connect_to(f, selected->ai_addr, selected->ai_addrlen);
}

/* resolve: a literal address is checked at once; a name is resolved off the loop (on_resolved). Bracketed hosts must be
 * IPv6 literals: libh2o would take `[unix:/path]` for a local socket. */
static void resolve(avatar_fetch_t *f, h2o_iovec_t authority)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } addr = {{0}};
    char serv[sizeof("65535")];

    if (authority.len != 0 && authority.base[0] == '[') {
        if (inet_pton(AF_INET6, f->host.base, &addr.in6.sin6_addr) != 1) {
            refuse(f, "a bracketed host that is not an IPv6 address");
            return;
        }
        addr.in6.sin6_family = AF_INET6;
        addr.in6.sin6_port = htons(f->port);
    } else if (inet_pton(AF_INET, f->host.base, &addr.in.sin_addr) == 1) {
        addr.in.sin_family = AF_INET;
        addr.in.sin_port = htons(f->port);
    } else {
        snprintf(serv, sizeof(serv), "%u", (unsigned)f->port);
        f->lookup = h2o_hostinfo_getaddr(&f->actx->ctx->receivers.hostinfo_getaddr, f->host, h2o_iovec_init(serv, strlen(serv)),
                                         AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, f);
        return;
    }
    if (!avatar_address_allowed(&f->actx->handler->conf, &addr.sa)) {
        refuse(f, "not a public address");
        return;
    }
    connect_to(f, &addr.sa, addr.sa.sa_family == AF_INET ? sizeof(addr.in) : sizeof(addr.in6));
}

void avatar_fetch(avatar_context_t *actx, const char *url, size_t len, booka_trace_t *trace, avatar_fetch_cb cb, void *data)
{
    avatar_fetch_t *f = calloc(1, sizeof(*f));
    h2o_url_t parsed;

    if (f == NULL) {
        cb(data, 502, "out of memory", NULL, 0);
        return;
    }
    *f = (avatar_fetch_t){.actx = actx,
                          .max_bytes = actx->handler->conf.fetch_max_bytes,
                          .trace = trace,
                          .started_at = booka_clock_us(),
                          .cb = cb,
                          .data = data};
    f->deadline.cb = on_deadline;
    h2o_timeout_link(actx->ctx->loop, &actx->fetch_total_timeout, &f->deadline);
    if (h2o_url_parse(url, len, &parsed) != 0 || parsed.host.len == 0 || !is_header_safe(parsed.path) ||
        !is_header_safe(parsed.authority)) {
        finish(f, 502, "the picture URL is malformed");
        return;
    }
    if ((f->request = build_request(&parsed)).base == NULL) {
        finish(f, 502, "out of memory");
        return;
    }
    if ((f->host = h2o_strdup(NULL, parsed.host.base, parsed.host.len)).base == NULL) {
        finish(f, 502, "out of memory");
        return;
    }
    f->port = h2o_url_get_port(&parsed);
    f->is_ssl = parsed.scheme == &H2O_URL_SCHEME_HTTPS;
    atomic_fetch_add(&avatar_stat_fetches, 1);
    resolve(f, parsed.authority);
}

void avatar_fetch_collect_metrics(booka_buf_t *out)
{
    booka_metrics_write_header(out, "booka_avatar_fetch_duration_seconds", "histogram",
                               "Time fetching an avatar source from its http(s) server, to the last byte or the failure.");
    booka_metrics_write_histogram(out, "booka_avatar_fetch_duration_seconds", "", &fetch_duration);
    booka_metrics_write_header(out, "booka_avatar_fetch_refused_total", "counter",
                               "Avatar sources not fetched because their address is not public nor in fetch-allow.");
    booka_metrics_write_sample(out, "booka_avatar_fetch_refused_total", "", (double)atomic_load(&refused_total));
}
