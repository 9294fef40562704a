/* internal.h: what the files of plugin/edge share: the settings `booka.edge` fills in, the tag lists and their batching,
 * the purge targets (Varnish servers, Cloudflare's API) and one HTTP request to one of them. */
#ifndef BOOKA_EDGE_INTERNAL_H
#define BOOKA_EDGE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include "h2o.h"
#include "h2o/http1client.h"
#include "cache/invalidate.h"
#include "edge/edge.h"
#include "http/json.h"

/* The response headers that can carry the tags, as bits of edge_settings.headers. */
enum { EDGE_HEADER_CACHE_TAG = 1, EDGE_HEADER_XKEY = 2, EDGE_HEADER_SURROGATE_KEY = 4 };
#define EDGE_NUM_HEADERS 3
extern const char *const edge_header_names[EDGE_NUM_HEADERS]; /* "cache-tag", "xkey", "surrogate-key", by bit index */

#define EDGE_PREFIX_MAX 64
#define EDGE_TAG_MAX 2600 /* longest tag a change may name: a category slug of LIST_TEXT_MAX_BYTES, %-encoded, plus room */

typedef enum edge_kind { EDGE_VARNISH, EDGE_CLOUDFLARE } edge_kind_t;

/* edge_target_stats_t: one target's counters for /metrics (written by the purger's thread, read by any). */
typedef struct edge_target_stats {
    _Atomic uint64_t requests_ok, requests_retried, requests_failed, tags_purged, batches;
    _Atomic uint64_t pending; /* tags waiting, gauge */
} edge_target_stats_t;

/* edge_target_conf_t: where purges go and how fast; made by the configurator, never changed after. */
typedef struct edge_target_conf {
    edge_kind_t kind;
    const char *kind_name; /* "varnish" or "cloudflare": the metrics' `target` label */
    char *endpoint;        /* host:port, for logs and the metrics' `endpoint` label */
    h2o_url_t url;         /* scheme, host and port requests go to */
    char *path;            /* the request target: "/" for Varnish, /client/v4/zones/<zone>/purge_cache for Cloudflare */
    char *authorization;   /* "Bearer <token>" for Cloudflare, else NULL */
    SSL_CTX *ssl_ctx;      /* for https; peers are verified */
    uint64_t timeout_ms;   /* a whole request, connect to last byte */
    size_t max_tags;       /* per request */
    size_t max_bytes;      /* of the tags per request (Varnish keeps request headers under http_req_hdr_len, 8 KiB) */
    unsigned max_attempts; /* a batch is dropped (and counted failed) after this many tries */
    double per_minute;     /* token bucket refill, requests a minute; 0: no limit */
    double burst;          /* token bucket size */
    edge_target_stats_t *stats;
} edge_target_conf_t;

typedef struct edge_settings {
    char prefix[EDGE_PREFIX_MAX + 1]; /* put before every tag, e.g. "booka-" */
    size_t prefix_len;
    unsigned headers;        /* EDGE_HEADER_* bits: which response headers carry the tags */
    uint64_t stale_if_error; /* seconds, added to the list's Cache-Control; 0: not sent */
    uint64_t batch_delay_ms; /* a change waits this long for others to share its request */
    uint64_t claim_ttl_s;    /* lifetime of a change's claim in Redis, seconds */
    H2O_VECTOR(edge_target_conf_t) targets;
} edge_settings_t;

/* Process-wide, written only while the configuration is applied. */
extern edge_settings_t edge_settings;

/* ---- tags.c ---- */

/* edge_tag_append_slug: appends the tag text of a category slug: bytes a-z, 0-9, '_' and '.' as they are, every other
 * byte as %XX (upper-case hex), exactly as the schema's booka.edge_tag_text() spells it (migration 005), so the tag the
 * response carries and the tag the trigger names are the same bytes, and no tag holds a separator (space, comma) or a
 * byte a header cannot carry. */
void edge_tag_append_slug(booka_buf_t *out, const char *slug, size_t len);

/* ---- batch.c: tag lists, the token bucket, backoff and change payloads (no I/O: unit-tested) ---- */

/* edge_tag_list_t: distinct tags (unprefixed, NUL-terminated, malloc'd), in arrival order. */
typedef H2O_VECTOR(char *) edge_tag_list_t;

/* edge_tags_add: appends `tag` (len bytes) unless the list holds it. Returns 1 when added, 0 when already there. */
int edge_tags_add(edge_tag_list_t *list, const char *tag, size_t len);

/* edge_tags_merge: moves every tag of `from` into `into` (skipping those it holds); `from` ends empty. */
void edge_tags_merge(edge_tag_list_t *into, edge_tag_list_t *from);

/* edge_tags_take: moves tags from the front of `from` to the empty list `to`: at most max_tags of them, and no more than
 * fit in max_bytes counting `overhead` bytes per tag besides the tag (its prefix, quotes, separator); at least one
 * whatever its size. Returns how many moved. */
size_t edge_tags_take(edge_tag_list_t *from, edge_tag_list_t *to, size_t max_tags, size_t max_bytes, size_t overhead);

/* edge_tags_collapse: replaces the list by the family tags that cover it ("list" for any list tag, "avatar" for any
 * avatar tag): what a target's pending tags become when they pass `limit`, so memory stays bounded. */
void edge_tags_collapse(edge_tag_list_t *list);

void edge_tags_clear(edge_tag_list_t *list);
void edge_tags_dispose(edge_tag_list_t *list);

/* edge_change_parse: a notification's payload, "<id> <tag> <tag>...", into its id and tags (added to `tags`). A tag
 * with a byte the trigger never writes (anything but a-z, 0-9, '_', '.', '-', '%') or longer than EDGE_TAG_MAX stands for
 * an unknown change: the family tags "list" and "avatar" are added instead. Returns the number of tags the payload
 * named (0 for a bare id), or -1 when it does not start with an id (then nothing is added). */
int edge_change_parse(const char *payload, uint64_t *id, edge_tag_list_t *tags);

/* edge_bucket_t: a token bucket (Cloudflare limits purge requests that way): `burst` tokens at most, refilled at
 * per_minute; a request takes one. With per_minute 0 it never limits. */
typedef struct edge_bucket {
    double tokens, burst, per_ms;
    uint64_t at; /* ms of the last refill */
} edge_bucket_t;

void edge_bucket_init(edge_bucket_t *bucket, double burst, double per_minute, uint64_t now_ms);

/* edge_bucket_wait: ms until a token is there (0: now). */
uint64_t edge_bucket_wait(edge_bucket_t *bucket, uint64_t now_ms);

/* edge_bucket_take: takes a token (call when edge_bucket_wait said 0). */
void edge_bucket_take(edge_bucket_t *bucket, uint64_t now_ms);

/* edge_backoff_ms: the wait before try number `attempt` + 1 after `attempt` (>= 1) failures: 500 ms doubling per
 * failure up to cap_ms, with the upper half jittered by `random` so instances do not retry in step. */
uint64_t edge_backoff_ms(unsigned attempt, uint64_t cap_ms, uint32_t random);

/* ---- request.c: one purge request to one target ---- */

/* edge_build_request: the HTTP/1.1 request purging `tags` (prefixed here) at `target`, appended to `out`: Varnish's
 * `PURGE /` with an `xkey-purge` header, Cloudflare's `POST .../purge_cache` with {"tags": [...]}. */
void edge_build_request(const edge_target_conf_t *target, const edge_tag_list_t *tags, booka_buf_t *out);

/* edge_tag_overhead: bytes a tag costs in `target`'s request besides its own (prefix, separators, quotes). */
size_t edge_tag_overhead(const edge_target_conf_t *target);

typedef struct edge_request edge_request_t;

/* edge_response_t: what came back. status 0: no response (could not connect, TLS failed, timeout, reset); then
 * `error` says why. retry_after: the response's Retry-After in seconds (0 when absent). body: its start, for logs. */
typedef struct edge_response {
    int status;
    const char *error;
    uint64_t retry_after;
    h2o_iovec_t body;
} edge_response_t;

typedef void (*edge_request_cb)(void *data, const edge_response_t *response);

/* edge_request_start: sends `bytes` (taken over: freed with the request) to `target` with the client context `cctx`
 * (its loop, resolver and io timeout). `cb` runs once, on the loop, unless the request is cancelled first; when it ran
 * inside this call already (a connect that failed at once), NULL is returned. */
edge_request_t *edge_request_start(h2o_http1client_ctx_t *cctx, const edge_target_conf_t *target, h2o_iovec_t bytes,
                                   edge_request_cb cb, void *data);

/* edge_request_cancel: drops the request; its callback never runs. */
void edge_request_cancel(edge_request_t *request);

/* ---- purge.c ---- */

/* edge_purge_observe: the invalidation observer (cache/invalidate.h) the configurator installs when targets exist. */
void edge_purge_observe(const booka_invalidation_change_t *change);

#endif
