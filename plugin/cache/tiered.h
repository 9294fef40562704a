/* tiered.h: the cache lookup both endpoints use: in-process ▸ Redis ▸ single-flight ▸ fill, with stale-while-revalidate
 * and stale-if-error. */
#ifndef BOOKA_CACHE_TIERED_H
#define BOOKA_CACHE_TIERED_H

#include <stdatomic.h>
#include "cache/store.h"
#include "http/json.h"
#include "http/trace.h"

typedef enum booka_cache_outcome {
    BOOKA_CACHE_HIT,   /* from a cache tier, or from another request's fill that this one waited for */
    BOOKA_CACHE_MISS,  /* built for this request */
    BOOKA_CACHE_STALE, /* past its freshness, served while one refresh runs or while fills fail */
} booka_cache_outcome_t;

extern const char *const booka_cache_outcome_names[]; /* "HIT", "MISS", "STALE": the X-Cache values */

typedef struct booka_cache_policy {
    uint64_t fresh_ms;  /* time to live as HIT */
    uint64_t jitter_ms; /* up to this much is taken off fresh_ms, at random, so entries do not expire together */
    uint64_t stale_ms;  /* after fresh_ms, served STALE while refreshing or while fills fail */
    uint64_t wait_ms;   /* longest wait for another request's or instance's fill before filling ourselves */
    uint64_t lock_ms;   /* lifetime of the cross-instance fill lock in Redis (SET NX PX) */
} booka_cache_policy_t;

typedef struct booka_cache_fill booka_cache_fill_t;

/* booka_cache_fill_fn: builds the value; must end with booka_cache_fill_done, exactly once, on ctx's thread (possibly
 * inside the call). `arg` belongs to the lookup and stays valid until then. */
typedef void (*booka_cache_fill_fn)(h2o_context_t *ctx, booka_cache_fill_t *fill, void *arg);

/* booka_cache_fill_done: the fill's result. status 200 is stored in both tiers; anything else (a 503 from a failing
 * database, say) is handed to the waiting requests but never stored, and a stale copy is preferred to it. */
void booka_cache_fill_done(booka_cache_fill_t *fill, int status, h2o_iovec_t body, h2o_iovec_t etag, h2o_iovec_t content_type);

/* booka_cache_fill_trace: the trace of the lookup the fill works for (its request id for log lines, and where the fill's
 * time goes: pass it to booka_db_query_trace, add render times to it). Valid until booka_cache_fill_done. */
booka_trace_t *booka_cache_fill_trace(booka_cache_fill_t *fill);

/* booka_cache_done_cb: the outcome and a value holding the body to send (the callee releases it), on ctx's thread.
 * value->status tells success (200) from a failed fill's error response. `trace` holds the time this lookup spent
 * upstream: its Redis commands and, when it filled, the fill's (valid during the call). */
typedef void (*booka_cache_done_cb)(void *data, booka_cache_outcome_t outcome, booka_cache_value_t *value,
                                    const booka_trace_t *trace);

typedef struct booka_cache_lookup booka_cache_lookup_t;

/* booka_cache_lookup: looks `key` up (the caller builds it with a version and generation prefix) and calls `cb` once.
 * `request_id` (copied; empty when no request waits) names the lookup's and its fill's log lines.
 * `fill_arg` is owned by the lookup from here on (freed with fill_arg_free), since a fill may outlive its request.
 * An in-process hit is answered at once, inside the call, so it costs no extra turn of the loop: then NULL is returned.
 * Otherwise the handle can be passed to booka_cache_abandon until `cb` has run. */
booka_cache_lookup_t *booka_cache_lookup(h2o_context_t *ctx, booka_cache_store_t *store, const booka_cache_policy_t *policy,
                                         h2o_iovec_t key, booka_cache_fill_fn fill, void *fill_arg, void (*fill_arg_free)(void *),
                                         booka_cache_done_cb cb, void *data, h2o_iovec_t request_id);

/* booka_cache_get_fresh: the in-process value under `key` while it is fresh (counted as a hit; the caller releases it),
 * else NULL: what booka_cache_lookup answers at once, for a caller whose fill_arg costs something to build. After NULL,
 * booka_cache_lookup takes it from there (it looks the store up again: a stale value is its to serve and refresh). */
booka_cache_value_t *booka_cache_get_fresh(booka_cache_store_t *store, h2o_iovec_t key);

/* booka_cache_abandon: the request went away; `cb` will not run. A fill under way still completes and is stored. */
void booka_cache_abandon(booka_cache_lookup_t *lookup);

typedef struct booka_cache_stats {
    _Atomic uint64_t hits, misses, stale, coalesced, redis_hits, fills, fill_errors, refreshes;
} booka_cache_stats_t;

extern booka_cache_stats_t booka_cache_stats; /* process-wide counters, for /metrics */

/* booka_cache_collect_metrics: the counters above in Prometheus text format (a booka_metrics_collector). */
void booka_cache_collect_metrics(booka_buf_t *out);

/* booka_cache_serialize / booka_cache_deserialize: the value's bytes as stored in Redis (versioned, self-describing).
 * deserialize returns NULL for anything malformed and for anything that could not be served as it is: a status other
 * than 200, fresh_until after stale_until, an ETag that is not an entity-tag, a Content-Type with control characters
 * (Redis is not trusted with response headers). */
void booka_cache_serialize(const booka_cache_value_t *value, booka_buf_t *out);
booka_cache_value_t *booka_cache_deserialize(const char *bytes, size_t len);

#endif
