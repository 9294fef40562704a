/* fetch.c: GET of an http(s) picture URL on the event loop, bounded in time (the name's resolution and each connection
 * attempt by fetch-connect-timeout, as is every silence; the whole by fetch-timeout), in bytes (the response head, the
 * body) and in what it may reach; the answer is mapped to ours: upstream 404/410 → 404, too large → 422, busy → 503,
 * timeout → 504, anything else 502.
 *
 * Where it connects: a stored URL names a port among `fetch-ports` (80 and 443 by default; any port of media-base-url's
 * own URLs); its host is resolved here, every address it resolves to must be allowed (address.c), and the fetch then
 * connects to those checked addresses itself, in the resolver's order until one connects (an AAAA record on an
 * IPv4-only network costs one attempt, not the source), its TLS peer name the URL's host (SNI and certificate name). So a
 * name cannot resolve to one address when checked and another when connected (DNS rebinding), and `[unix:/path]` hosts,
 * which libh2o's client would connect to as a local socket, never reach a socket. A source refused for its address or
 * port answers exactly like one that cannot be reached, so the answers map no network.
 *
 * Names are resolved on the avatar module's own resolver threads (resolver.c: never libh2o's, which the database and
 * Redis use), waited for at most fetch-connect-timeout; a name that does not resolve, or not in time, is remembered for
 * fetch-failure-ttl by host (gate.c), whatever URL names it next. A lookup cannot be taken back: when its fetch gives up
 * first, it runs to its end and is still remembered then.
 *
 * The response is read with response.c, not libh2o's HTTP/1 client, which buffers a response head without limit (why:
 * response.c); a head over AVATAR_RESPONSE_HEAD_MAX is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netdb.h>
#include "avatar/internal.h"
#include "http/http.h"
#include "metrics/metrics.h"

#define MAX_ADDRESSES 8     /* addresses of one name tried in turn */
#define MAX_INFORMATIONAL 8 /* 1xx responses skipped before the final one */

typedef struct avatar_fetch avatar_fetch_t;

/* fetch_lookup_t: one name resolution; it outlives its fetch when the fetch ends first (`fetch` NULL). */
typedef struct fetch_lookup {
    avatar_fetch_t *fetch;
    avatar_context_t *actx;
    size_t host_len;
    char host[1];
} fetch_lookup_t;

typedef enum fetch_phase {
    PHASE_STARTING,
    PHASE_RESOLVING,
    PHASE_CONNECTING,
    PHASE_TLS,
    PHASE_SENDING,
    PHASE_HEAD,
    PHASE_BODY
} fetch_phase_t;

struct avatar_fetch {
    avatar_context_t *actx;
    fetch_phase_t phase;
    fetch_lookup_t *lookup; /* while resolving */
    h2o_socket_t *sock;     /* while connected or connecting */
    char *url;              /* owned: the normalised URL (normalise_url), NUL-terminated */
    h2o_iovec_t host;       /* owned: the URL's host in lower case, NUL-terminated (the TLS peer name) */
    uint16_t port;
    int is_ssl, below_media_base, host_entered, connected, conditional;
    struct sockaddr_storage addrs[MAX_ADDRESSES]; /* checked, in the resolver's order */
    socklen_t addr_lens[MAX_ADDRESSES];
    size_t num_addrs, next_addr;
    int last_status;              /* of the last failed connection attempt: 502, or 504 when it timed out */
    h2o_timeout_entry_t deadline; /* the whole fetch */
    h2o_timeout_entry_t io;       /* resolving, each connection attempt, the TLS handshake, every silence */
    h2o_iovec_t request;          /* owned request bytes */
    size_t head_scanned, informational;
    avatar_response_head_t head;
    avatar_chunked_t chunked;
    uint64_t body_left; /* AVATAR_BODY_LENGTH */
    uint8_t *body;
    size_t len, cap, max_bytes;
    booka_trace_t *trace;
    uint64_t started_at; /* booka_clock_us */
    avatar_fetch_cb cb;
    void *data;
};

static booka_histogram_t fetch_duration;
static _Atomic uint64_t refused_total, lookup_busy_total;

static const char msg_unreachable[] = "the picture's server cannot be reached";
static const char msg_timeout[] = "the picture's server did not answer in time";
static const char msg_busy[] = "the picture sources are busy, try again";
static const char msg_malformed_response[] = "the picture's server sent a malformed response";

/* finish: reports once and frees the fetch; a lookup still running is left to end on its own (on_resolved). */
static void finish(avatar_fetch_t *f, int status, const char *message)
{
    if (f->lookup != NULL)
        f->lookup->fetch = NULL;
    if (f->sock != NULL)
        h2o_socket_close(f->sock);
    if (h2o_timeout_is_linked(&f->io))
        h2o_timeout_unlink(&f->io);
    if (h2o_timeout_is_linked(&f->deadline))
        h2o_timeout_unlink(&f->deadline);
    if (f->host_entered)
        avatar_gate_leave_host(f->actx->handler, f->host.base, f->host.len);
    f->trace->fetch_us += booka_histogram_observe_since(&fetch_duration, f->started_at);
    f->cb(f->data, status, message, status == 200 ? f->body : NULL, status == 200 ? f->len : 0,
          status == 200 || status == 304 ? &f->head.validators : NULL);
    if (status != 200)
        free(f->body);
    free(f->request.base);
    free(f->host.base);
    free(f->url);
    free(f);
}

/* arm_io: (re)starts the fetch-connect-timeout clock of the current phase. */
static void arm_io(avatar_fetch_t *f)
{
    if (h2o_timeout_is_linked(&f->io))
        h2o_timeout_unlink(&f->io);
    h2o_timeout_link(f->actx->ctx->loop, &f->actx->fetch_io_timeout, &f->io);
}

/* remember_slow_name: a name that did not resolve in time is remembered like one that does not resolve. */
static void remember_slow_name(avatar_fetch_t *f)
{
    if (f->phase == PHASE_RESOLVING)
        avatar_gate_remember_host(f->actx, f->host.base, f->host.len, 504, msg_timeout);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    avatar_fetch_t *f = H2O_STRUCT_FROM_MEMBER(avatar_fetch_t, deadline, entry);

    remember_slow_name(f);
    finish(f, 504, msg_timeout);
}

static void connect_next(avatar_fetch_t *f);

static void on_io_timeout(h2o_timeout_entry_t *entry)
{
    avatar_fetch_t *f = H2O_STRUCT_FROM_MEMBER(avatar_fetch_t, io, entry);

    if (f->phase == PHASE_CONNECTING) { /* this address did not answer: the next one may */
        h2o_socket_close(f->sock);
        f->sock = NULL;
        f->last_status = 504;
        connect_next(f);
        return;
    }
    remember_slow_name(f);
    finish(f, 504, msg_timeout);
}

/* append_body: takes n decoded body bytes. Returns 0, or the status to finish with: 422 over the byte limit, 503 when
 * memory runs out (the body's size is the upstream's: a graceful answer, http/json.h). */
static int append_body(avatar_fetch_t *f, const char *bytes, size_t n)
{
    if (n == 0)
        return 0;
    if (n > f->max_bytes - f->len)
        return 422;
    if (f->len + n > f->cap) {
        size_t cap = f->cap != 0 ? f->cap : 64 * 1024;
        uint8_t *p;
        while (cap < f->len + n)
            cap *= 2;
        if (cap > f->max_bytes)
            cap = f->max_bytes;
        if ((p = realloc(f->body, cap)) == NULL)
            return 503;
        f->body = p;
        f->cap = cap;
    }
    memcpy(f->body + f->len, bytes, n);
    f->len += n;
    return 0;
}

/* read_body: takes what the socket buffered as body. Returns 0 while the fetch goes on, -1 once it finished. */
static int read_body(avatar_fetch_t *f)
{
    h2o_buffer_t **input = &f->sock->input;
    size_t n = (*input)->size;
    int done = 0, status;

    switch (f->head.framing) {
    case AVATAR_BODY_LENGTH:
        if (n >= f->body_left) {
            n = (size_t)f->body_left; /* what follows the body is not ours */
            done = 1;
        }
        f->body_left -= n;
        break;
    case AVATAR_BODY_CHUNKED:
        if ((done = avatar_chunked_decode(&f->chunked, (*input)->bytes, &n)) < 0) {
            finish(f, 502, msg_malformed_response);
            return -1;
        }
        break;
    case AVATAR_BODY_UNTIL_CLOSE:
        break;
    }
    if ((status = append_body(f, (*input)->bytes, n)) != 0) {
        finish(f, status, status == 503 ? msg_out_of_memory : booka_image_strerror(BOOKA_IMAGE_ERROR_TOO_MANY_BYTES));
        return -1;
    }
    h2o_buffer_consume(input, (*input)->size);
    if (done) {
        finish(f, 200, NULL);
        return -1;
    }
    return 0;
}

/* read_head: looks for the end of the response head in what the socket buffered, refusing a head over
 * AVATAR_RESPONSE_HEAD_MAX, skips informational responses, and maps the final status. Returns 0 while the fetch goes on
 * (more head to come, or the body started), -1 once it finished. */
static int read_head(avatar_fetch_t *f)
{
    h2o_buffer_t **input = &f->sock->input;
    size_t head_len;

    for (;;) {
        head_len = avatar_response_head_end((*input)->bytes, (*input)->size, &f->head_scanned);
        if (head_len == 0 ? (*input)->size > AVATAR_RESPONSE_HEAD_MAX : head_len > AVATAR_RESPONSE_HEAD_MAX) {
            finish(f, 502, "the picture's server sent a response head over 64 KiB");
            return -1;
        }
        if (head_len == 0)
            return 0;
        if (avatar_response_head_parse((*input)->bytes, head_len, &f->head) != 0) {
            finish(f, 502, msg_malformed_response);
            return -1;
        }
        h2o_buffer_consume(input, head_len);
        f->head_scanned = 0;
        if (f->head.status < 100 || f->head.status > 199 || f->head.status == 101)
            break;
        if (++f->informational > MAX_INFORMATIONAL) {
            finish(f, 502, msg_malformed_response);
            return -1;
        }
    }
    if (f->head.status == 304 && f->conditional) {
        finish(f, 304, NULL);
        return -1;
    }
    if (f->head.status != 200) {
        int gone = f->head.status == 404 || f->head.status == 410;
        finish(f, gone ? 404 : 502, gone ? "the picture was not found upstream" : "the picture's server answered with an error");
        return -1;
    }
    if (f->head.framing == AVATAR_BODY_LENGTH && f->head.content_length > f->max_bytes) {
        finish(f, 422, booka_image_strerror(BOOKA_IMAGE_ERROR_TOO_MANY_BYTES));
        return -1;
    }
    f->phase = PHASE_BODY;
    f->body_left = f->head.content_length;
    return read_body(f);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    avatar_fetch_t *f = sock->data;

    /* what arrived before an error or the end of the stream counts */
    if ((f->phase == PHASE_HEAD ? read_head(f) : read_body(f)) != 0)
        return;
    if (err == NULL) {
        arm_io(f);
        return;
    }
    if (f->phase == PHASE_BODY && f->head.framing == AVATAR_BODY_UNTIL_CLOSE && err == h2o_socket_error_closed)
        finish(f, 200, NULL);
    else
        finish(f, 502,
               f->phase == PHASE_HEAD ? "the picture's server did not answer" : "the picture's server failed while sending it");
}

static void on_request_written(h2o_socket_t *sock, const char *err)
{
    avatar_fetch_t *f = sock->data;

    if (err != NULL) {
        finish(f, 502, "the picture's server did not answer");
        return;
    }
    f->phase = PHASE_HEAD;
    h2o_socket_read_start(sock, on_read);
    arm_io(f);
}

static void send_request(avatar_fetch_t *f)
{
    f->phase = PHASE_SENDING;
    h2o_socket_write(f->sock, &f->request, 1, on_request_written);
    arm_io(f);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    avatar_fetch_t *f = sock->data;

    if (err != NULL) { /* verification included: the CA, and the host name (configurator.c on_verify_peer) */
        finish(f, 502, msg_unreachable);
        return;
    }
    send_request(f);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    avatar_fetch_t *f = sock->data;

    if (err != NULL) {
        h2o_socket_close(sock);
        f->sock = NULL;
        f->last_status = 502;
        connect_next(f);
        return;
    }
    if (!f->connected) {
        f->connected = 1;
        atomic_fetch_add(&avatar_stat_fetches, 1); /* an upstream request: refusals and names that do not resolve are not */
    }
    if (f->is_ssl) {
        f->phase = PHASE_TLS;
        h2o_socket_ssl_handshake(sock, f->actx->handler->conf.fetch_ssl_ctx, f->host.base, on_handshake);
        arm_io(f);
        return;
    }
    send_request(f);
}

/* connect_next: connects to the next checked address, or finishes with the last attempt's failure when none is left. */
static void connect_next(avatar_fetch_t *f)
{
    f->phase = PHASE_CONNECTING;
    while (f->next_addr != f->num_addrs) {
        size_t i = f->next_addr++;
        if ((f->sock = h2o_socket_connect(f->actx->ctx->loop, (struct sockaddr *)&f->addrs[i], f->addr_lens[i], on_connect)) !=
            NULL) {
            f->sock->data = f;
            arm_io(f);
            return;
        }
        f->last_status = 502; /* no socket for that family (IPv6 on an IPv4-only host): the next one */
    }
    finish(f, f->last_status, f->last_status == 504 ? msg_timeout : msg_unreachable);
}

/* refuse: the source's address or port is not one a fetch may reach; answered like an unreachable server (see the top). */
static void refuse(avatar_fetch_t *f, const char *why)
{
    atomic_fetch_add(&refused_total, 1);
    booka_log(NULL, "avatar", "refused to fetch from %s: %s (booka.avatar fetch-allow, fetch-ports)", f->host.base, why);
    finish(f, 502, msg_unreachable);
}

/* add_address: appends an address to try, if it is allowed; returns 0, or -1 after refusing the fetch. */
static int add_address(avatar_fetch_t *f, const struct sockaddr *sa, socklen_t salen, const char *why)
{
    if (!avatar_address_allowed(&f->actx->handler->conf, sa)) {
        refuse(f, why);
        return -1;
    }
    if (f->num_addrs != MAX_ADDRESSES && salen <= sizeof(f->addrs[0])) {
        memcpy(&f->addrs[f->num_addrs], sa, salen);
        f->addr_lens[f->num_addrs++] = salen;
    }
    return 0;
}

/* on_resolved: every address the name has must be allowed (a name that also resolves to a private address is refused
 * whichever the connection would have used); then they are tried in order. Runs for every lookup, also after its fetch
 * ended (never cancelled: see the top). */
static void on_resolved(void *data, const char *errstr, struct addrinfo *res)
{
    fetch_lookup_t *lookup = data;
    avatar_fetch_t *f = lookup->fetch;

    if (errstr != NULL)
        avatar_gate_remember_host(lookup->actx, lookup->host, lookup->host_len, 502, msg_unreachable);
    free(lookup);
    if (f == NULL)
        return;
    f->lookup = NULL;
    if (errstr != NULL) {
        finish(f, 502, msg_unreachable);
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        if (add_address(f, ai->ai_addr, ai->ai_addrlen, "it resolves to an address that is not public") != 0)
            return;
    connect_next(f);
}

/* resolve_name: the host is a name (not an address literal): answered from the memory of names that just failed, else
 * resolved off the loop if a resolver thread is free (503 when not). */
static void resolve_name(avatar_fetch_t *f)
{
    int status;
    const char *message;
    fetch_lookup_t *lookup;

    if (avatar_gate_recall_host(f->actx, f->host.base, f->host.len, &status, &message)) {
        finish(f, status, message);
        return;
    }
    lookup = h2o_mem_alloc(offsetof(fetch_lookup_t, host) + f->host.len + 1);
    *lookup = (fetch_lookup_t){.fetch = f, .actx = f->actx, .host_len = f->host.len};
    memcpy(lookup->host, f->host.base, f->host.len + 1);
    if (avatar_resolve(f->actx, lookup->host, f->port, on_resolved, lookup) != 0) {
        free(lookup);
        atomic_fetch_add(&lookup_busy_total, 1);
        finish(f, 503, msg_busy);
        return;
    }
    f->lookup = lookup;
    f->phase = PHASE_RESOLVING;
    arm_io(f);
}

typedef union literal_address {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
} literal_address_t;

/* parse_literal: whether the host is an address (1, in *addr) or a name (0). Bracketed hosts must be IPv6 literals:
 * libh2o would take `[unix:/path]` for a local socket; anything else there is refused (-1). */
static int parse_literal(avatar_fetch_t *f, h2o_iovec_t authority, literal_address_t *addr)
{
    *addr = (literal_address_t){{0}};
    if (authority.len != 0 && authority.base[0] == '[') {
        if (inet_pton(AF_INET6, f->host.base, &addr->in6.sin6_addr) != 1) {
            refuse(f, "a bracketed host that is not an IPv6 address");
            return -1;
        }
        addr->in6.sin6_family = AF_INET6;
        addr->in6.sin6_port = htons(f->port);
        return 1;
    }
    if (inet_pton(AF_INET, f->host.base, &addr->in.sin_addr) == 1) {
        addr->in.sin_family = AF_INET;
        addr->in.sin_port = htons(f->port);
        return 1;
    }
    return 0;
}

/* is_header_safe: whether text may go into a request line or header as it is (no controls, no spaces). */
static int is_header_safe(h2o_iovec_t s)
{
    for (size_t i = 0; i != s.len; ++i)
        if ((unsigned char)s.base[i] <= 0x20 || s.base[i] == 0x7f)
            return 0;
    return 1;
}

/* normalise_url: the URL as h2o_url_parse reads it, malloc'd and NUL-terminated: the scheme in lower case (RFC 3986 3.1:
 * it is case-insensitive; libh2o compares it as written), the fragment dropped (it is never sent: RFC 9110 7.1), and a
 * '/' inserted where a query follows the authority ("https://host?x", whose '?' libh2o reads as part of the host). NULL
 * when the URL is not http:// or https://. */
static char *normalise_url(const char *url, size_t len, size_t *out_len)
{
    size_t scheme_len, authority_end, n = 0;
    const char *hash = memchr(url, '#', len);
    char *out;

    if (len >= 7 && strncasecmp(url, "http://", 7) == 0)
        scheme_len = 4;
    else if (len >= 8 && strncasecmp(url, "https://", 8) == 0)
        scheme_len = 5;
    else
        return NULL;
    if (hash != NULL)
        len = (size_t)(hash - url);
    for (authority_end = scheme_len + 3; authority_end < len && url[authority_end] != '/' && url[authority_end] != '?';
         ++authority_end)
        ;
    out = h2o_mem_alloc(len + 2);
    for (; n != scheme_len; ++n)
        out[n] = (char)(url[n] | 0x20); /* "http" and "https" are letters */
    memcpy(out + n, url + n, authority_end - n);
    n = authority_end;
    if (authority_end == len || url[authority_end] == '?')
        out[n++] = '/';
    memcpy(out + n, url + authority_end, len - authority_end);
    n += len - authority_end;
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* build_request: the GET for `url`, conditional on `revalidate`'s validators when given (each is printable ASCII:
 * copy_validator in response.c); returns the request bytes (malloc'd). */
static h2o_iovec_t build_request(const h2o_url_t *url, const avatar_validators_t *revalidate)
{
    static const char format[] = "GET %.*s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: booka-origin\r\n"
                                 "Accept: image/webp,image/jpeg,image/png,image/*;q=0.8\r\nConnection: close\r\n%s%s%s%s%s%s\r\n";
    const char *etag = revalidate != NULL ? revalidate->etag : "", *modified = revalidate != NULL ? revalidate->last_modified : "";
    size_t cap = sizeof(format) + url->path.len + url->authority.len + 2 * (AVATAR_VALIDATOR_MAX + 32);
    char *buf = h2o_mem_alloc(cap);
    int n = snprintf(buf, cap, format, (int)url->path.len, url->path.base, (int)url->authority.len, url->authority.base,
                     etag[0] != '\0' ? "If-None-Match: " : "", etag, etag[0] != '\0' ? "\r\n" : "",
                     modified[0] != '\0' ? "If-Modified-Since: " : "", modified, modified[0] != '\0' ? "\r\n" : "");

    return h2o_iovec_init(buf, (size_t)n);
}

/* port_allowed: 80, 443 or another port of `fetch-ports`; any port below media-base-url (the operator's own URL). */
static int port_allowed(avatar_fetch_t *f)
{
    const avatar_config_t *conf = &f->actx->handler->conf;

    if (f->below_media_base)
        return 1;
    for (size_t i = 0; i != conf->fetch_ports.size; ++i)
        if (conf->fetch_ports.entries[i] == f->port)
            return 1;
    return 0;
}

void avatar_fetch(avatar_context_t *actx, const char *url, size_t len, int below_media_base, const avatar_validators_t *revalidate,
                  booka_trace_t *trace, avatar_fetch_cb cb, void *data)
{
    avatar_fetch_t *f = h2o_mem_alloc(sizeof(*f));
    h2o_url_t parsed;
    literal_address_t addr;
    size_t url_len;
    char why[64];
    int literal;

    *f =
        (avatar_fetch_t){.actx = actx,
                         .below_media_base = below_media_base,
                         .conditional = revalidate != NULL && (revalidate->etag[0] != '\0' || revalidate->last_modified[0] != '\0'),
                         .max_bytes = actx->handler->conf.fetch_max_bytes,
                         .last_status = 502,
                         .trace = trace,
                         .started_at = booka_clock_us(),
                         .cb = cb,
                         .data = data};
    f->deadline.cb = on_deadline;
    f->io.cb = on_io_timeout;
    h2o_timeout_link(actx->ctx->loop, &actx->fetch_total_timeout, &f->deadline);
    if ((f->url = normalise_url(url, len, &url_len)) == NULL || h2o_url_parse(f->url, url_len, &parsed) != 0 ||
        parsed.host.len == 0 || !is_header_safe(parsed.path) || !is_header_safe(parsed.authority)) {
        finish(f, 502, "the picture URL is malformed");
        return;
    }
    f->request = build_request(&parsed, f->conditional ? revalidate : NULL);
    f->host = h2o_strdup(NULL, parsed.host.base, parsed.host.len);
    h2o_strtolower(f->host.base, f->host.len); /* one host, however spelled, for the per-host gate and the failure memory */
    f->port = h2o_url_get_port(&parsed);
    f->is_ssl = parsed.scheme == &H2O_URL_SCHEME_HTTPS;
    if ((literal = parse_literal(f, parsed.authority, &addr)) < 0)
        return;
    if (!port_allowed(f)) {
        snprintf(why, sizeof(why), "port %u is not in fetch-ports", (unsigned)f->port);
        refuse(f, why);
        return;
    }
    if (!below_media_base) {
        if (avatar_gate_enter_host(actx->handler, f->host.base, f->host.len) != 0) {
            finish(f, 503, msg_busy);
            return;
        }
        f->host_entered = 1;
    }
    if (!literal)
        resolve_name(f);
    else if (add_address(f, &addr.sa, addr.sa.sa_family == AF_INET ? sizeof(addr.in) : sizeof(addr.in6), "not a public address") ==
             0)
        connect_next(f);
}

void avatar_fetch_collect_metrics(booka_buf_t *out)
{
    booka_metrics_write_header(out, "booka_avatar_fetch_duration_seconds", "histogram",
                               "Time fetching an avatar source from its http(s) server, to the last byte or the failure.");
    booka_metrics_write_histogram(out, "booka_avatar_fetch_duration_seconds", "", &fetch_duration);
    booka_metrics_write_header(out, "booka_avatar_fetch_refused_total", "counter",
                               "Avatar sources not fetched because their address is not public nor in fetch-allow, or their port "
                               "not in fetch-ports.");
    booka_metrics_write_sample(out, "booka_avatar_fetch_refused_total", "", (double)atomic_load(&refused_total));
    booka_metrics_write_header(out, "booka_avatar_lookups", "gauge",
                               "Avatar source host names being resolved now on the module's resolver threads (also those whose "
                               "fetch gave up), at most 16.");
    booka_metrics_write_sample(out, "booka_avatar_lookups", "", (double)avatar_resolve_in_flight());
    booka_metrics_write_header(out, "booka_avatar_lookup_busy_total", "counter",
                               "Avatar misses refused with 503 because every avatar resolver thread was busy.");
    booka_metrics_write_sample(out, "booka_avatar_lookup_busy_total", "", (double)atomic_load(&lookup_busy_total));
    booka_metrics_write_header(out, "booka_avatar_fetch_host_busy_total", "counter",
                               "Avatar misses refused with 503 because fetch-per-host fetches of their source's host were in "
                               "flight.");
    booka_metrics_write_sample(out, "booka_avatar_fetch_host_busy_total", "", (double)atomic_load(&avatar_stat_fetch_host_busy));
    booka_metrics_write_header(out, "booka_avatar_source_waits_total", "counter",
                               "Avatar fills that waited for another fill's fetch of the same source instead of fetching it.");
    booka_metrics_write_sample(out, "booka_avatar_source_waits_total", "", (double)atomic_load(&avatar_stat_source_waits));
}
