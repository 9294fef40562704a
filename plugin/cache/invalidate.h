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

/* booka_invalidation_context_init: the first loop thread to call it hosts the process's LISTEN connection (plugin/db's
 * booka_db_listen: `listen-url`, else the primary; later calls are no-ops). Each (re)connect re-reads the sequence, so
 * writes missed while down still count. Without a LISTEN target there is no connection: the process keeps a random
 * epoch (shares no keys) and is never listening. */
void booka_invalidation_context_init(h2o_context_t *ctx);

/* booka_invalidation_is_listening: the LISTEN connection is up (for /readyz). */
int booka_invalidation_is_listening(void);

/* booka_invalidation_apply_payload: what a notification's payload does to the generation (the rule: invalidate.c): a
 * sequence number (digits, at most 2^63-1), alone or followed by a space and the cache tags the write made stale
 * (schema migration 005: "<number> <tag> <tag>..."), becomes the generation; anything else moves it to a value derived from it and
 * the current generation, in the upper half, where no sequence number is. Exposed for unit tests. */
void booka_invalidation_apply_payload(const char *payload);

/* booka_invalidation_apply_setup: what a (re)connect does: the generation moves to a value in the upper half derived from
 * the sequence's value, and from the snapshot the same statement read (pg_current_snapshot()::text) when it saw a write of
 * ours in flight ("" when it saw none; invalidate.c says why); a NULL sequence value (it could not be read): derived from
 * the current generation. Exposed for unit tests. */
void booka_invalidation_apply_setup(const char *sequence_value, const char *snapshot);

/* booka_cache_changes: how many changes (notifications and set-ups) the process applied so far; incremented after the
 * generation moved, so a thread that reads it and then the generation sees that change's generation or a later one. */
extern _Atomic uint64_t booka_cache_changes;

/* booka_invalidation_change_t: one change, as the observer hears it. */
typedef struct booka_invalidation_change {
    /* what follows a write's number and a space (empty: nothing any response depends on), or NULL when what changed is
     * unknown (a set-up, a bare number, a payload not of that form): then everything may be stale */
    const char *tags;
    uint64_t generation; /* the generation it moved to */
    uint64_t serial;     /* its place in the process's order: booka_cache_changes after it */
    /* the sequence value it covers: a write's number, or the value a set-up read; has_sequence 0 when neither */
    uint64_t sequence;
    int has_sequence;
    /* the process's first set-up: it heard nothing before, so it cannot know what changed while nobody listened */
    int first;
} booka_invalidation_change_t;

/* booka_invalidation_observer: told of every change, on the LISTEN connection's thread, after the generation moved. Must
 * not block: copy what it needs and return. */
typedef void (*booka_invalidation_observer)(const booka_invalidation_change_t *change);

/* booka_invalidation_add_observer: adds an observer (the edge purger, plugin/edge; the avatars' known versions,
 * plugin/avatar), while the configuration is applied; each is told in the order added, once however often it is added.
 * booka_invalidation_remove_observer: takes it out again. */
void booka_invalidation_add_observer(booka_invalidation_observer observer);
void booka_invalidation_remove_observer(booka_invalidation_observer observer);

/* booka_invalidation_visible_through: the serial of the last change whose generation (or a later one) cache keys carry
 * now, so that whatever is filled from now on has it: every change without a read replica; with one, those the replica
 * monitor released (booka_db_read_generation). Any thread. */
uint64_t booka_invalidation_visible_through(void);

/* booka_invalidation_visible_within: ms after a change is heard by which every instance (with the same replica
 * settings) keys by it: 0 without a read replica, else the monitor's longest hold (booka_db_replica_hold_max). */
uint64_t booka_invalidation_visible_within(void);

#endif
