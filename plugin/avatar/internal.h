/* internal.h: what the avatar module's files share: the configuration, the request's parameters and variant, the worker
 * pool, the render job, the upstream fetch and the variant fill. */
#ifndef BOOKA_AVATAR_INTERNAL_H
#define BOOKA_AVATAR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include "h2o.h"
#include "cache/store.h"
#include "cache/invalidate.h"
#include "cache/tiered.h"
#include "http/etag.h"
#include "http/json.h"
#include "http/client.h"
#include "image/image.h"
#include "list/avatar_token.h"

/* ---- configuration (configurator.c) ---- */

#define AVATAR_ALLOWED_SIDES_MAX 32

typedef struct avatar_config {
    char *media_root;  /* NULL: media paths answer 404 */
    int media_root_fd; /* the media root opened as a directory, -1 when none */
    booka_image_limits_t limits;
    size_t worker_threads;
    size_t queue_limit;             /* jobs that may wait for a worker, beyond one per worker */
    uint64_t worker_memory_budget;  /* bytes the running renders may reserve together (their estimated peaks); 0: none */
    uint64_t fetch_connect_timeout; /* ms: connecting, and the longest silence while reading */
    uint64_t fetch_timeout;         /* ms: the whole fetch */
    size_t fetch_max_bytes;
    SSL_CTX *fetch_ssl_ctx;
    H2O_VECTOR(booka_cidr_t) fetch_allow; /* `fetch-allow`: blocks a fetch may reach besides public addresses */
    char *media_base_url;                 /* `media-base-url`: stored /static/ paths are fetched below it (NULL: media-root) */
    size_t originals_cache_size;          /* bytes of fetched sources kept for their other variants (0: none) */
    uint64_t originals_ttl;               /* s a fetched source is reused */
    size_t fetch_concurrency;             /* fetches in flight per handler (all threads); more answer 503 */
    size_t fetch_per_host;                /* fetches in flight per host name (media-base-url's excepted); more answer 503 */
    H2O_VECTOR(uint16_t) fetch_ports;     /* `fetch-ports`: the ports stored URLs may name (media-base-url's: any) */
    uint64_t fetch_failure_ttl;           /* ms a failed source is answered from memory (0: never) */
    uint64_t max_age, s_maxage, versioned_max_age;    /* seconds, for Cache-Control */
    size_t cache_budget;                              /* bytes of variants kept in process */
    uint64_t cache_ttl;                               /* seconds a variant stays cached */
    uint64_t coalesce_timeout;                        /* ms a request waits for another's identical fill */
    uint32_t allowed_sides[AVATAR_ALLOWED_SIDES_MAX]; /* `allowed-sides`, ascending; none: any side */
    size_t num_allowed_sides;
    int snap_sides;                    /* `other-sides: snap` (else reject: 422) */
    booka_avatar_signer_t *signers[2]; /* `signing-key-env`, `previous-signing-key-env`; [0] NULL: URLs are not signed */
    char *signing_path;                /* the mount path without a trailing slash, which signing texts start with */
} avatar_config_t;

/* ---- the request (request.c) ---- */

#define AVATAR_TOKEN_MAX 64 /* longest version token kept (the schema's are 16 hex digits) */
#define AVATAR_MIN_WIDTH 16
#define AVATAR_MAX_WIDTH 1024
#define AVATAR_DEFAULT_WIDTH 256
#define AVATAR_DEFAULT_QUALITY 85
#define AVATAR_URL_INLINE_MAX                                                                                                      \
    4096 /* a picture URL up to this long comes with the first query; longer ones (data: URLs of                                   \
            megabytes) are read only when a variant must be built */

#define AVATAR_SOURCE_URL_MAX 8192 /* longest http(s) URL or /static/ path fetched or opened; a data: URL is bounded by bytes */

typedef enum avatar_format { AVATAR_FORMAT_AUTO, AVATAR_FORMAT_WEBP, AVATAR_FORMAT_JPEG } avatar_format_t;

/* avatar_params_t: the validated query. */
typedef struct avatar_params {
    uint32_t width;
    double dpr;
    int quality;
    avatar_format_t format;
    char version[AVATAR_TOKEN_MAX + 1]; /* the request's `v`; "" when absent or longer than AVATAR_TOKEN_MAX */
    uint32_t side;                      /* set by avatar_params_side */
} avatar_params_t;

/* avatar_variant_t: one encoded output: what keys the cache and the single-flight, and its ETag. */
typedef struct avatar_variant {
    int64_t provider_id;
    char token[AVATAR_TOKEN_MAX + 1];
    uint32_t side; /* requested side, capped by max-side only (the source may cap it further) */
    booka_image_output_format_t format;
    int quality;
    char key[160];
    size_t key_len;
    char etag[BOOKA_ETAG_MAX]; /* strong: "<32 hex digits>" */
    size_t etag_len;
} avatar_variant_t;

/* avatar_parse_id: the provider id from the path below the handler's mount point (`rest`, e.g. "/123"): one slash and 1
 * to 19 ASCII digits, at most INT64_MAX. Returns 0 with *id set, or -1. */
int avatar_parse_id(h2o_iovec_t rest, int64_t *id);

/* avatar_params_parse: the raw query string (without '?'; NULL for none). Names and values are percent-decoded with '+'
 * as a space; unknown names are ignored; the last occurrence wins; an empty value counts as absent. Returns 0, or -1 with
 * `errors` holding the FastAPI-shaped `detail` array (one entry per bad parameter). */
int avatar_params_parse(avatar_params_t *params, const char *query, size_t len, booka_buf_t *errors);

/* avatar_params_side: params->side, the output side: floor(w * dpr + 0.5) capped by max-side, then, with allowed-sides,
 * that side if allowed, else the nearest allowed one (ties to the larger) with `other-sides: snap`, else a 422: -1 with
 * `errors` holding the `detail` array (an `enum` entry at `w`). Returns 0 otherwise. */
int avatar_params_side(avatar_params_t *params, const avatar_config_t *conf, booka_buf_t *errors);

typedef enum avatar_signature { AVATAR_SIGNATURE_OK, AVATAR_SIGNATURE_MISSING, AVATAR_SIGNATURE_WRONG } avatar_signature_t;

/* avatar_signature_check: with signing configured, whether the raw query's `sig` (its last occurrence, percent-decoded)
 * is the signature of the signing text (list/avatar_token.h) of this mount path, provider and query under one of the
 * keys, compared in constant time: MISSING when there is no `sig` value, WRONG when it does not match. OK without
 * signing. */
avatar_signature_t avatar_signature_check(const avatar_config_t *conf, int64_t provider_id, const char *query, size_t len);

/* avatar_accept_names_webp: whether one Accept header value names image/webp (any case) with a q-value above 0. Ranges
 * such as image/ * and * / * do not count. */
int avatar_accept_names_webp(const char *value, size_t len);

/* avatar_variant_init: fills `variant` (key and ETag included) for a provider, its picture's version token (at most
 * AVATAR_TOKEN_MAX bytes) and the output parameters. */
void avatar_variant_init(avatar_variant_t *variant, int64_t provider_id, const char *token, size_t token_len, uint32_t side,
                         booka_image_output_format_t format, int quality);

/* ---- versions a request may trust without a lookup (known.c) ---- */

#define AVATAR_KNOWN_TOKEN_MAX 32 /* longer tokens are never remembered (the schema's are 16 hex digits) */

/* avatar_known_stamp: what a lookup about to be sent records, to remember its answer with: 0 when that answer may not be
 * trusted later (the LISTEN connection is down, or a read replica has not replayed the newest notified write yet). */
uint64_t avatar_known_stamp(void);

/* avatar_known_now: the counter stamps are read from, whatever the state of invalidation (for tests). */
uint64_t avatar_known_now(void);

/* avatar_known_remember: the lookup stamped `stamp` found `token` as the provider's current version (stamp 0 or a token
 * too long to keep: forgets the provider instead). avatar_known_forget: the provider has no version to trust. */
void avatar_known_remember(int64_t provider_id, const char *token, size_t token_len, uint64_t stamp);
void avatar_known_forget(int64_t provider_id);

/* avatar_known_is_current: whether `token` is the provider's version as a lookup confirmed it with no notification about
 * the provider (or every avatar) since. The caller also checks that invalidation is listening (a reconnect counts as a
 * change of everything). Any thread. */
int avatar_known_is_current(int64_t provider_id, const char *token, size_t token_len);

/* avatar_known_observe: the invalidation observer (booka_invalidation_observer): `avatar-<id>` tags mark their provider,
 * `avatar` (or NULL: unknown) every one. */
void avatar_known_observe(const booka_invalidation_change_t *change);

extern _Atomic uint64_t avatar_stat_lookups_skipped; /* requests whose `v` was known to be current: no lookup (handler.c) */

/* ---- the worker pool (pool.c) ---- */

typedef struct avatar_job avatar_job_t;
struct avatar_job {
    h2o_multithread_message_t super;      /* how the job travels back */
    h2o_multithread_receiver_t *receiver; /* the submitting loop's, registered with avatar_pool_on_done */
    void (*run)(avatar_job_t *job);       /* on a worker thread: touches nothing but the job */
    void (*done)(avatar_job_t *job);      /* afterwards, on the submitting loop's thread */
    avatar_job_t *next;                   /* queue link */
    uint64_t submitted_at;                /* booka_clock_us, set by avatar_pool_submit */
    uint64_t queue_us, run_us;            /* set by the pool before `done`: time waiting for a worker, and running */
};

typedef struct avatar_pool avatar_pool_t;

/* avatar_pool_create: a pool of `num_threads` workers that accepts at most num_threads + queue_limit unfinished jobs, whose
 * running jobs may reserve `memory_budget` bytes together (0: no budget). No thread starts before avatar_pool_start.
 * Returns NULL when memory runs out. */
avatar_pool_t *avatar_pool_create(size_t num_threads, size_t queue_limit, uint64_t memory_budget);

/* avatar_pool_start: starts the workers, once (later calls do nothing). Thread-safe. */
void avatar_pool_start(avatar_pool_t *pool);

/* avatar_pool_is_full: whether a submit would be refused now (checked before a source is fetched for a render). */
int avatar_pool_is_full(avatar_pool_t *pool);

/* avatar_pool_submit: queues `job` (FIFO). Returns 0, or -1 when the pool is full; the job is then not touched. */
int avatar_pool_submit(avatar_pool_t *pool, avatar_job_t *job);

/* avatar_pool_reserve: a running job takes `bytes` (its estimated peak) from the memory budget before it decodes. Returns
 * 0 (reserved; give it back with avatar_pool_release), -1 when what the other running jobs hold leaves too little now
 * (counted in avatar_stat_memory_busy), or -2 when `bytes` is more than the whole budget. Always 0 without a budget. Any
 * thread. */
int avatar_pool_reserve(avatar_pool_t *pool, uint64_t bytes);
void avatar_pool_release(avatar_pool_t *pool, uint64_t bytes);

/* avatar_pool_on_done: the receiver callback that runs each returned job's `done`. */
void avatar_pool_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* avatar_pool_collect_metrics: every pool's queue depth, busy workers and worker count (gauges) and the jobs' queue
 * wait and run time (histograms), in Prometheus text format. */
void avatar_pool_collect_metrics(booka_buf_t *out);

/* ---- rendering on a worker (render.c) ---- */

typedef enum avatar_source_kind {
    AVATAR_SOURCE_NONE, /* a form we cannot serve */
    AVATAR_SOURCE_DATA_URL,
    AVATAR_SOURCE_MEDIA,
    AVATAR_SOURCE_HTTP,
} avatar_source_kind_t;

/* avatar_classify_source: what a profile_picture_url holds. For AVATAR_SOURCE_MEDIA, *path gets the path below the media
 * root (after `/static/`, without any query or fragment). */
avatar_source_kind_t avatar_classify_source(const char *url, size_t len, h2o_iovec_t *path);

/* avatar_media_open: opens `path` (relative, '/'-separated) below the directory `root_fd` for reading, one component at
 * a time, refusing empty, "." and ".." components and any symbolic link, so nothing outside the root can be reached.
 * Returns a descriptor of a regular file, or -1 (ENOENT, ELOOP, EINVAL, EISDIR, ...). */
int avatar_media_open(int root_fd, const char *path, size_t len);

/* avatar_render_job_t: one thumbnail to build from a data URL, a media file or fetched bytes. */
typedef struct avatar_render_job {
    avatar_job_t super;
    /* input */
    avatar_source_kind_t kind;
    char *text; /* owned: the data URL, or the media path (NUL-terminated) */
    size_t text_len;
    uint8_t *bytes; /* owned: fetched bytes */
    size_t len;
    const avatar_config_t *conf;
    avatar_pool_t *pool; /* whose memory budget the render reserves from */
    uint32_t side;
    booka_image_output_format_t format;
    int quality;
    void *owner;
    /* output */
    int status;          /* 200, 404, 422, 500, or 503 (the memory budget could not cover it now, or memory ran out) */
    const char *message; /* static, for errors */
    booka_image_result_t result;
} avatar_render_job_t;

/* avatar_render: the job's `run`: reads the source, probes it, caps the side by the source's short side, decodes, crops,
 * resamples and encodes. */
void avatar_render(avatar_job_t *job);

/* avatar_render_job_free: releases the job and what it owns. */
void avatar_render_job_free(avatar_render_job_t *job);

/* Counters for the status handler and /metrics (hits, misses and coalesced waits are the cache module's). */
extern _Atomic uint64_t avatar_stat_decodes, avatar_stat_queue_full, avatar_stat_fetches, avatar_stat_memory_busy;

/* ---- the handler's per-thread state (handler.c) ---- */

/* avatar_failed_source_t: a source whose fetch just failed, by the hash of its URL (gate.c). */
typedef struct avatar_failed_source {
    uint64_t hash, until; /* hash 0: empty; until: booka_clock_us */
    int status;
    const char *message; /* a string literal of fetch.c's */
} avatar_failed_source_t;

#define AVATAR_FAILED_SOURCES 1024 /* per handler, direct-mapped: a newer failure takes an older one's slot */

typedef struct avatar_handler {
    h2o_handler_t super;
    avatar_config_t conf;
    h2o_iovec_t cache_control, cache_control_versioned;
    booka_cache_policy_t cache_policy;
    booka_cache_store_t *store;
    booka_cache_store_t *originals; /* fetched sources by URL (NULL when originals-cache-size is 0) */
    avatar_pool_t *pool;
    _Atomic size_t fetches_in_flight; /* the fetch gate's count (gate.c) */
    _Atomic size_t source_waiters;    /* fills waiting for another fill's fetch of their source (fill.c) */
    pthread_mutex_t failed_mutex;     /* guards `failed`, shared by every thread */
    avatar_failed_source_t failed[AVATAR_FAILED_SOURCES];
} avatar_handler_t;

typedef struct avatar_context {
    avatar_handler_t *handler;
    h2o_context_t *ctx;
    h2o_multithread_receiver_t jobs_done;
    h2o_timeout_t fetch_io_timeout, fetch_total_timeout;
    h2o_multithread_receiver_t resolved; /* answers of the avatar resolver (resolver.c), registered on first use */
    int resolved_registered;
} avatar_context_t;

/* avatar_handler_register: installs the handler on `pathconf` with `conf` (copied). */
avatar_handler_t *avatar_handler_register(h2o_pathconf_t *pathconf, const avatar_config_t *conf);

/* ---- the fetch gate (gate.c) ---- */

extern _Atomic uint64_t avatar_stat_fetch_busy, avatar_stat_fetch_failure_hits, avatar_stat_originals_hits,
    avatar_stat_originals_revalidated, avatar_stat_fetch_host_busy, avatar_stat_source_waits;

/* avatar_media_url: the URL a stored media path (below /static/) has under `media-base-url`, malloc'd and
 * NUL-terminated, its length in *len; NULL when the path has an empty, "." or ".." component (also spelled %2e), a ';'
 * (path parameters), a backslash, a control or space, a malformed escape, or encoded: a '/', '\\', ';', '%', control or
 * an overlong UTF-8 lead byte (%c0, %c1). */
char *avatar_media_url(const char *base, const char *path, size_t path_len, size_t *len);

/* avatar_gate_recall: whether `url` failed (on any thread) within fetch-failure-ttl; then its status and message. */
int avatar_gate_recall(avatar_context_t *actx, const char *url, size_t len, int *status, const char **message);

/* avatar_gate_remember: `url`'s fetch failed with `status` and `message` (a string literal); recalled for
 * fetch-failure-ttl. */
void avatar_gate_remember(avatar_context_t *actx, const char *url, size_t len, int status, const char *message);

/* avatar_gate_recall_host, avatar_gate_remember_host: the same memory for a host name (lower case) that did not
 * resolve, apart from the URLs'. */
int avatar_gate_recall_host(avatar_context_t *actx, const char *host, size_t len, int *status, const char **message);
void avatar_gate_remember_host(avatar_context_t *actx, const char *host, size_t len, int status, const char *message);

/* avatar_gate_enter: takes one of the handler's fetch-concurrency slots; -1 (counted) when none is free.
 * avatar_gate_leave: gives it back. Any thread. */
int avatar_gate_enter(avatar_handler_t *handler);
void avatar_gate_leave(avatar_handler_t *handler);

/* avatar_gate_enter_host: takes one of the fetch-per-host slots of a host name (lower case); -1 (counted) when none is
 * free. avatar_gate_leave_host: gives it back. Any thread. */
int avatar_gate_enter_host(avatar_handler_t *handler, const char *host, size_t len);
void avatar_gate_leave_host(avatar_handler_t *handler, const char *host, size_t len);

/* ---- the source's address (address.c) ---- */

/* avatar_address_is_public: whether an IPv4 (4 bytes, family AF_INET) or IPv6 (16 bytes) address is publicly routable:
 * not loopback, private, shared (CGNAT), link-local, unique-local, multicast, documentation or otherwise reserved; IPv6
 * only inside 2000::/3; an IPv4 address inside IPv6 (all of ::/96, mapped, SIIT-translated, NAT64, 6to4) is judged as IPv4. */
int avatar_address_is_public(int family, const uint8_t *addr);

/* avatar_address_allowed: whether a fetch may connect to `sa`: an IPv4/IPv6 address that is public or inside one of
 * conf's `fetch-allow` blocks. Never a UNIX socket. */
int avatar_address_allowed(const avatar_config_t *conf, const struct sockaddr *sa);

/* ---- name resolution (resolver.c) ---- */

#define AVATAR_RESOLVER_THREADS 16 /* avatar lookups in flight at once, process-wide, each on a thread of its own */

/* avatar_resolve_cb: on the requesting loop: the host's TCP addresses (freed after the callback returns), or an error. */
typedef void (*avatar_resolve_cb)(void *data, const char *errstr, struct addrinfo *res);

/* avatar_resolve: resolves host:port (AF_UNSPEC, TCP, AI_ADDRCONFIG) on the avatar module's resolver threads, apart from
 * libh2o's (which the database and Redis use); `cb` runs once on actx's loop, however long getaddrinfo takes (a lookup
 * cannot be cancelled). Returns 0, or -1 (nothing started) when AVATAR_RESOLVER_THREADS lookups are in flight. */
int avatar_resolve(avatar_context_t *actx, const char *host, uint16_t port, avatar_resolve_cb cb, void *data);

/* avatar_resolve_in_flight: lookups queued or running now, process-wide. */
size_t avatar_resolve_in_flight(void);

/* ---- the upstream's response (response.c) ---- */

#define AVATAR_RESPONSE_HEAD_MAX (64 * 1024) /* a longer response head (status line and fields) is refused */

typedef enum avatar_body_framing {
    AVATAR_BODY_UNTIL_CLOSE, /* neither Content-Length nor Transfer-Encoding: the body ends with the connection */
    AVATAR_BODY_LENGTH,
    AVATAR_BODY_CHUNKED,
} avatar_body_framing_t;

#define AVATAR_VALIDATOR_MAX 128 /* longest ETag or Last-Modified kept to revalidate a source with; longer ones are ignored */

/* avatar_validators_t: what a source's server said identifies the bytes it sent (ETag, Last-Modified), NUL-terminated,
 * empty when absent; sent back as If-None-Match / If-Modified-Since when the originals cache revalidates the source. */
typedef struct avatar_validators {
    char etag[AVATAR_VALIDATOR_MAX + 1];
    char last_modified[AVATAR_VALIDATOR_MAX + 1];
} avatar_validators_t;

typedef struct avatar_response_head {
    int status;
    avatar_body_framing_t framing;
    uint64_t content_length; /* AVATAR_BODY_LENGTH */
    avatar_validators_t validators;
} avatar_response_head_t;

/* avatar_response_head_end: the length of the response head at the start of buf[0..len) (through the empty line that
 * ends it, CR LF or LF), or 0 while it is not complete. *scanned (0 at first) remembers how far the search went, so that
 * a head arriving in many reads is searched once. */
size_t avatar_response_head_end(const char *buf, size_t len, size_t *scanned);

/* avatar_response_head_parse: a complete head (what avatar_response_head_end measured): "HTTP/1.x" and a three-digit
 * status, fields of token names (no folding), Content-Length (digits; repeated only with the same value) and
 * Transfer-Encoding (only "chunked", which wins over Content-Length); ETag and Last-Modified are copied when they are
 * printable and at most AVATAR_VALIDATOR_MAX bytes. Returns 0, or -1 for anything else. */
int avatar_response_head_parse(const char *head, size_t len, avatar_response_head_t *out);

/* avatar_chunked_t: the chunked decoder's state; zero-initialised to start. */
typedef struct avatar_chunked {
    int state, digits;
    uint64_t size; /* of the chunk being read, then what is left of it */
} avatar_chunked_t;

/* avatar_chunked_decode: decodes buf[0..*len) in place (the data of the chunks moved to the front, *len set to their
 * length). Returns 1 once the last chunk and the trailer are complete (bytes after them are ignored), 0 when more is
 * needed, -1 when the framing is malformed. */
int avatar_chunked_decode(avatar_chunked_t *d, char *buf, size_t *len);

/* ---- the upstream fetch (fetch.c) ---- */

/* avatar_fetch_cb: the outcome of a fetch: status 200 with the body (malloc'd, the callee owns it) and the response's
 * validators, 304 (only for a conditional fetch: the source is unchanged; no body; the validators it sent), or 404 (upstream 404 or
 * 410), 422 (over the byte limit), 502 (any other failure), 503 (fetch-per-host fetches of its host, or every resolver slot, busy:
 * not the source's fault) or 504 (a timeout) with a static message. `validators` is NULL unless the status is 200 or 304. */
typedef void (*avatar_fetch_cb)(void *data, int status, const char *message, uint8_t *body, size_t len,
                                const avatar_validators_t *validators);

/* avatar_fetch: GETs an http(s) URL on actx's loop with the configured timeouts, byte limits, ports and per-host cap
 * (`below_media_base`: a URL below media-base-url, whose port is always allowed and whose host is not capped); `cb` runs
 * once, possibly before this call returns (a malformed URL, a refused connection). The fetch's time goes to
 * trace->fetch_us just before `cb` runs. `revalidate` (or NULL): the validators of the bytes the caller holds, sent as
 * If-None-Match / If-Modified-Since, so that an unchanged source answers 304 instead of its bytes. */
void avatar_fetch(avatar_context_t *actx, const char *url, size_t len, int below_media_base, const avatar_validators_t *revalidate,
                  booka_trace_t *trace, avatar_fetch_cb cb, void *data);

/* avatar_fetch_collect_metrics: the fetch duration histogram, in Prometheus text format. */
void avatar_fetch_collect_metrics(booka_buf_t *out);

/* avatar_lookup_flags: the flags of the avatar's database reads (the lookup, and the fill's read of the URL). With edge
 * purging they read the primary: an avatar answer is not keyed by the cache generation, so the replica's fence does not
 * hold it back, and an edge refetch right after a picture's purge must not get the old picture from a replica that has
 * not replayed the change yet (the edge would keep it for s-maxage). Without purging, a replica that may lag. */
int avatar_lookup_flags(void);

/* ---- the variant fill (fill.c) ---- */

typedef struct avatar_fill avatar_fill_t;

/* avatar_fill_new: what building `variant` needs, copied: the picture URL when the lookup brought it (else a NULL base:
 * the fill reads it). Owned by the cache lookup from then on, which frees it with avatar_fill_free. */
avatar_fill_t *avatar_fill_new(avatar_context_t *actx, const avatar_variant_t *variant, h2o_iovec_t url);
void avatar_fill_free(void *fill);

/* avatar_fill_run: the booka_cache_fill_fn of avatar variants: ends with booka_cache_fill_done, a 200 with the image or
 * an error status with a JSON body. */
void avatar_fill_run(h2o_context_t *ctx, booka_cache_fill_t *handle, void *fill);

/* msg_out_of_memory: the 503's message when an allocation whose size the input decides fails (http/json.h, out of
 * memory): a source's bytes, a data: URL, a render's buffers. */
#define msg_out_of_memory BOOKA_OUT_OF_MEMORY

/* avatar_image_error_status: the answer to an image error: 422 when it blames the source (booka_image_error_is_source_fault),
 * 503 when memory ran out (the source's size decided it: a graceful answer, http/json.h), else 500. */
static inline int avatar_image_error_status(booka_image_error_t err)
{
    return booka_image_error_is_source_fault(err) ? 422 : err == BOOKA_IMAGE_ERROR_NO_MEMORY ? 503 : 500;
}

/* avatar_image_error_message: its message: booka_image_strerror's, msg_out_of_memory for memory. */
static inline const char *avatar_image_error_message(booka_image_error_t err)
{
    return err == BOOKA_IMAGE_ERROR_NO_MEMORY ? msg_out_of_memory : booka_image_strerror(err);
}

#endif
