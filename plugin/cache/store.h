/* store.h: the in-process cache tier: a byte-budgeted LRU map from keys to immutable, reference-counted values, shared
 * by every thread of the process; and single-flight, so identical misses in flight share one fill across threads. */
#ifndef BOOKA_CACHE_STORE_H
#define BOOKA_CACHE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "h2o.h"

/* booka_cache_value_t: what a cache entry holds. Immutable once created: any thread may read it while it holds a
 * reference. `body`, `etag` and `content_type` point into the value's own storage. */
typedef struct booka_cache_value {
    h2o_iovec_t body;
    h2o_iovec_t etag;         /* the full header value, e.g. W/"3f2a..." */
    h2o_iovec_t content_type; /* e.g. application/json */
    uint64_t created_at;      /* ms since the epoch */
    uint64_t fresh_until;     /* ms since the epoch: served as HIT before, STALE after */
    uint64_t stale_until;     /* ms since the epoch: dropped after */
    int status;               /* the HTTP status the body was built for (200 normally) */
    /* private */
    _Atomic size_t _refcnt;
    size_t _size;
} booka_cache_value_t;

/* booka_cache_value_new: one value holding copies of body/etag/content_type, with one reference held by the caller.
 * Returns NULL when memory runs out. */
booka_cache_value_t *booka_cache_value_new(h2o_iovec_t body, h2o_iovec_t etag, h2o_iovec_t content_type, int status,
                                           uint64_t created_at, uint64_t fresh_until, uint64_t stale_until);
void booka_cache_value_retain(booka_cache_value_t *value);
void booka_cache_value_release(booka_cache_value_t *value);

/* booka_cache_now: wall-clock milliseconds since the epoch (what fresh_until/stale_until are measured in). */
uint64_t booka_cache_now(void);

/* booka_cache_key_hash: the hash the store and single-flight's table bucket keys by. */
uint64_t booka_cache_key_hash(const char *key, size_t len);

typedef struct booka_cache_store booka_cache_store_t;

/* booka_cache_store_create: a store that keeps at most `max_bytes` of values (keys and bookkeeping included), evicting
 * the least recently used first (per shard: the putting shard's first, then the others'). Returns NULL when memory runs
 * out. */
booka_cache_store_t *booka_cache_store_create(size_t max_bytes);
void booka_cache_store_destroy(booka_cache_store_t *store);

/* booka_cache_store_get: the value under `key` with a reference for the caller, or NULL. A value past its stale_until is
 * dropped and NULL returned; a stale one (past fresh_until) is returned, and the caller decides. Thread-safe. */
booka_cache_value_t *booka_cache_store_get(booka_cache_store_t *store, const char *key, size_t key_len);

/* booka_cache_store_put: stores `value` under `key` (the store takes its own reference; the caller keeps its own),
 * replacing what was there. A value larger than a quarter of the whole budget is not stored. Thread-safe. */
void booka_cache_store_put(booka_cache_store_t *store, const char *key, size_t key_len, booka_cache_value_t *value);

/* booka_cache_store_remove: drops `key`. booka_cache_store_clear: drops everything. Thread-safe. */
void booka_cache_store_remove(booka_cache_store_t *store, const char *key, size_t key_len);
void booka_cache_store_clear(booka_cache_store_t *store);

typedef struct booka_cache_store_stats {
    size_t entries, bytes, max_bytes;
    uint64_t hits, misses, evictions;
} booka_cache_store_stats_t;
void booka_cache_store_get_stats(booka_cache_store_t *store, booka_cache_store_stats_t *stats);

/*
 * Single-flight. A request that misses calls booka_flight_begin. The first caller for a key becomes the leader
 * (BOOKA_FLIGHT_LEAD): it builds the value and must call booka_flight_land exactly once, with the value or NULL on
 * failure. Later callers for the same key, on any thread, become followers (BOOKA_FLIGHT_FOLLOW): their callback runs
 * later on their own loop thread, with the landed value (a reference they must release) or with NULL when the leader
 * failed, or when `wait_ms` passed first (then the follower should build the value itself: no request waits unbounded).
 * A follower whose request goes away calls booka_flight_cancel; its callback then never runs.
 */
typedef enum booka_flight_role { BOOKA_FLIGHT_LEAD, BOOKA_FLIGHT_FOLLOW } booka_flight_role_t;

typedef void (*booka_flight_cb)(void *data, booka_cache_value_t *value);

typedef struct booka_flight_waiter booka_flight_waiter_t;

/* booka_flight_counts: fills in flight now (process-wide), and requests waiting for one of them. */
void booka_flight_counts(size_t *flights, size_t *waiting);

/* booka_flight_context_init: registers ctx's loop to receive landings; every handler using flights calls it from its
 * on_context_init (idempotent). */
void booka_flight_context_init(h2o_context_t *ctx);

/* booka_flight_context_dispose: undoes booka_flight_context_init on the calling thread (before h2o_context_dispose). No
 * follower of this thread may still be waiting. */
void booka_flight_context_dispose(h2o_context_t *ctx);

/* booka_flight_begin: see above. For a follower, *waiter identifies it for booka_flight_cancel. */
booka_flight_role_t booka_flight_begin(h2o_context_t *ctx, const char *key, size_t key_len, uint64_t wait_ms, booka_flight_cb cb,
                                       void *data, booka_flight_waiter_t **waiter);

/* booka_flight_land: the leader's result for `key` (NULL on failure) goes to every follower; the leader keeps its own
 * reference. Returns how many followers were waiting (the "coalesced" count). */
size_t booka_flight_land(const char *key, size_t key_len, booka_cache_value_t *value);

/* booka_flight_cancel: the follower's request went away; its callback will not run. Call only from the waiter's thread,
 * and only before its callback ran. */
void booka_flight_cancel(booka_flight_waiter_t *waiter);

#endif
