/* invalidate.h: cache invalidation on write. Triggers NOTIFY booka_invalidate with a number drawn from a Postgres
 * sequence; one LISTEN connection per process moves the cache generation to it, and cache keys carry the generation, so
 * the next request after a write misses, on every instance, within the notification's delay. */
#ifndef BOOKA_CACHE_INVALIDATE_H
#define BOOKA_CACHE_INVALIDATE_H

#include <stdatomic.h>
#include <stdint.h>
#include "h2o.h"

/* booka_cache_generation: the current generation; part of every cache key. Read with atomic_load. */
extern _Atomic uint64_t booka_cache_generation;

/* booka_cache_epoch: identifies the database (schema migration 007); also part of every shared cache key, since the
 * generation restarts in a recreated database. Random per process until the LISTEN connection has read it. */
extern _Atomic uint64_t booka_cache_epoch;

/* booka_invalidation_context_init: the first loop thread to call it hosts the process's LISTEN connection to `conninfo`
 * (later calls are no-ops). The connection is asynchronous on that loop, re-reads the generation from the sequence each
 * time it (re)connects, so writes it missed while down still count, and reconnects with backoff. With conninfo NULL
 * there is no connection: the process keeps a random epoch (shares no keys) and is never listening. */
void booka_invalidation_context_init(h2o_context_t *ctx, const char *conninfo);

/* booka_invalidation_is_listening: the LISTEN connection is up (for /readyz). */
int booka_invalidation_is_listening(void);

/* booka_invalidation_apply_payload: what a notification's payload does to the generation: a number, alone or followed by
 * a space and what the change touched (schema migration 010: "<number> <tag> <tag>..."), moves it forward (never back);
 * anything else (older triggers sent table names) bumps it by one. The set-up read after each (re)connect passes the
 * sequence's value alone. Then the observer, if any, is told. Exposed for unit tests. */
void booka_invalidation_apply_payload(const char *payload);

/* booka_invalidation_observer: told of every payload applied, on the thread that applied it (the LISTEN connection's
 * loop); `before` and `after` are the generation around it. Must not block: copy what it needs and return. */
typedef void (*booka_invalidation_observer)(const char *payload, uint64_t before, uint64_t after);

/* booka_invalidation_set_observer: installs the one observer (the edge purger, plugin/edge), while the configuration is
 * applied; NULL removes it. */
void booka_invalidation_set_observer(booka_invalidation_observer observer);

#endif
