/* invalidate.c: the cache generation and epoch, moved by the LISTEN connection (plugin/db/listen.c holds the connection).
 *
 * The rule for the generation. Values below 2^63 are sequence numbers: a write's trigger draws one from the
 * booka_cache_generation sequence (a bigint: 0 to 2^63-1) and notifies it, and the generation becomes the number of the
 * last write whose notification arrived (notifications come in commit order; the latest wins, so an early-drawn number
 * that commits late still moves the generation to a value no key has used). Values with the top bit set stand for "a
 * change whose number is unknown": the (re)connect, whose set-up reads the sequence while writes may be in flight, and any
 * payload that is not a sequence number (garbage, a table name from an older trigger, 2^64-1). Such a value is derived
 * from its inputs (FNV-1a), so every instance that sees the same thing computes the same generation and they keep sharing
 * keys; and since it is never a sequence number, the next write's notification always moves the generation. No payload
 * can pin it: the next real write replaces whatever a bad one set.
 *
 * A set-up derives its value from the sequence's last value, and from the snapshot of the same statement
 * (pg_current_snapshot()::text, "xmin:xmax:xip,...") unless no write of ours can be in flight. The sequence alone is not
 * always enough: nextval is not transactional, a trigger draws its number when its statement runs, before the commit. A
 * set-up during an uncommitted write would read S+1 and key fills of the data before the write by it; after the commit, a
 * later set-up with no write in between would read S+1 again and serve those entries (from Redis, on every instance).
 *
 * So the set-up statement also asks whether a write can be in flight: whether any other transaction holds a write lock
 * (RowExclusiveLock or stronger, granted or waiting) on a table that has one of our triggers. A writer draws its number
 * in a statement trigger, after its statement took that lock, and keeps the lock until its transaction ends. The lock
 * check runs after the sequence was read (it is correlated with the sequence's row, so the executor cannot run it
 * first): a writer that drew S or less is then either seen holding its lock, or has ended, and fills after the set-up see
 * what it committed (this needs the sequence's CACHE 1, which 003 creates: with a larger cache a backend hands out a
 * number below S after the read, so the statement counts a cache over 1 as a writer seen). When none is seen the
 * generation comes from the sequence alone (and "", not a snapshot), and every instance that sets up before the next
 * write agrees on it, whatever ends elsewhere in the cluster; a write after the set-up notifies, and moves the
 * generation (LISTEN came first). When one is seen the snapshot goes in too: two set-ups then give the same
 * value only when no transaction that had an id ended between them (a writer running at the snapshot is in xip or has an
 * id at or past xmax, one past the newest id that had ended, and its end takes it out of xip or moves xmax past it), and
 * instances that set up apart share no keys until the next write's notification (plugin/cache/README.md). The snapshot
 * alone, as before, cost that on every set-up of a busy cluster: any transaction ending anywhere (another database, an
 * autovacuum ANALYZE) changes it.
 *
 * A write's payload may carry, after its number and a space, the cache tags it made stale (schema migration 005): they go
 * to the observers (the edge purger, the avatars' known versions), not into the generation. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cache/invalidate.h"
#include "db/db.h"
#include "db/listen.h"
#include "http/http.h"

#define CHANNEL "booka_invalidate"
#define SEQUENCE_MAX INT64_MAX             /* a bigint sequence's largest value */
#define UNKNOWN_CHANGE (UINT64_C(1) << 63) /* set in generations that are not sequence numbers */

_Atomic uint64_t booka_cache_generation;
_Atomic uint64_t booka_cache_epoch;
_Atomic uint64_t booka_cache_changes;
static atomic_int started, listening;
static booka_db_listener_t *listener; /* NULL without a LISTEN target */

/* fnv1a: 64-bit FNV-1a of `len` bytes, continuing from `h`. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    for (const unsigned char *p = data; len-- != 0; ++p)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL

/* unknown_change: the generation after a change whose number is unknown, derived from `from`, `text` and, when not NULL,
 * `more` (a set-up's snapshot); never a sequence number, never `from`. */
static uint64_t unknown_change(uint64_t from, const char *text, const char *more)
{
    uint64_t h = fnv1a(fnv1a(FNV_OFFSET, &from, sizeof(from)), text, strlen(text));

    if (more != NULL)
        h = fnv1a(fnv1a(h, " ", 1), more, strlen(more));
    h |= UNKNOWN_CHANGE;
    return h != from ? h : h ^ 1;
}

/* sequence_number: whether `text` is a number the sequence can produce (decimal digits only, at most 2^63-1). */
static int sequence_number(const char *text, uint64_t *n)
{
    size_t len = strspn(text, "0123456789");

    if (len == 0 || text[len] != '\0' || len > 19)
        return 0;
    *n = 0;
    for (const char *p = text; *p != '\0'; ++p) {
        if (*n > (SEQUENCE_MAX - (uint64_t)(*p - '0')) / 10)
            return 0;
        *n = *n * 10 + (uint64_t)(*p - '0');
    }
    return 1;
}

#define MAX_OBSERVERS 4

static booka_invalidation_observer observers[MAX_OBSERVERS];
static size_t num_observers;

/* the list is read on the LISTEN connection's thread without a lock: it may only change before that starts */
static void assert_not_started(void)
{
    if (atomic_load(&started))
        h2o_fatal("invalidation observers may only change while the configuration is applied");
}

void booka_invalidation_add_observer(booka_invalidation_observer fn)
{
    assert_not_started();
    for (size_t i = 0; i != num_observers; ++i)
        if (observers[i] == fn)
            return;
    if (num_observers == MAX_OBSERVERS)
        h2o_fatal("too many invalidation observers");
    observers[num_observers++] = fn;
}

void booka_invalidation_remove_observer(booka_invalidation_observer fn)
{
    assert_not_started();
    for (size_t i = 0; i != num_observers; ++i) {
        if (observers[i] == fn) {
            memmove(observers + i, observers + i + 1, (num_observers - i - 1) * sizeof(observers[0]));
            --num_observers;
            return;
        }
    }
}

/* changed: the generation moved to `change->generation` (stored before): the change is counted, then every observer
 * told, in the order added. */
static void changed(booka_invalidation_change_t *change)
{
    change->serial = atomic_fetch_add(&booka_cache_changes, 1) + 1;
    for (size_t i = 0; i != num_observers; ++i)
        observers[i](change);
}

void booka_invalidation_apply_payload(const char *payload)
{
    uint64_t n, before = atomic_load(&booka_cache_generation);
    size_t digits = strcspn(payload, " ");
    char number[24];
    int known = digits < sizeof(number);

    /* "<number>" or "<number> <tag> <tag>..." (schema migration 005): the number follows the rule above, the tags are the
     * observers' (the edge purger, the avatars' known versions) */
    if (known) {
        memcpy(number, payload, digits);
        number[digits] = '\0';
        known = sequence_number(number, &n);
    }
    if (!known)
        n = unknown_change(before, payload, NULL);
    atomic_store(&booka_cache_generation, n);
    changed(&(booka_invalidation_change_t){.tags = known && payload[digits] == ' ' ? payload + digits + 1 : NULL,
                                           .generation = n,
                                           .sequence = known ? n : 0,
                                           .has_sequence = known});
}

void booka_invalidation_apply_setup(const char *sequence_value, const char *snapshot)
{
    /* the same after every reconnect while nothing was written (instances agree, keys survive), different once something
     * was; the snapshot when a writer may still commit a number read here, "" when none can (hashed all the same: the
     * value then differs from any with a snapshot, and from the sequence-alone value of versions that keyed open writes
     * by it); without the sequence (an older schema), a step from wherever the generation is */
    static int set_up_before;
    uint64_t from = sequence_value != NULL ? 0 : atomic_load(&booka_cache_generation), sequence = 0;
    int has_sequence = sequence_value != NULL && sequence_number(sequence_value, &sequence);
    uint64_t n = unknown_change(from, sequence_value != NULL ? sequence_value : "", sequence_value != NULL ? snapshot : NULL);

    atomic_store(&booka_cache_generation, n);
    /* what changed while nobody listened is unknown: after a reconnect, writes this process missed; at the first set-up,
     * writes made while no instance listened (the edge purger asks Redis what was purged already) */
    changed(&(booka_invalidation_change_t){
        .generation = n, .sequence = sequence, .has_sequence = has_sequence, .first = !set_up_before});
    set_up_before = 1;
}

uint64_t booka_invalidation_visible_through(void)
{
    return booka_db_released_changes(atomic_load(&booka_cache_changes));
}

uint64_t booka_invalidation_visible_within(void)
{
    return booka_db_replica_hold_max();
}

int booka_invalidation_is_listening(void)
{
    return atomic_load(&listening);
}

/* epoch_of: the database's epoch text folded to 64 bits (it only needs to differ between databases). */
static uint64_t epoch_of(const char *text)
{
    return fnv1a(FNV_OFFSET, text, strlen(text));
}

static void on_up(void *data, const PGresult *setup)
{
    int read = setup != NULL && PQntuples(setup) == 1 && PQnfields(setup) == 3 && !PQgetisnull(setup, 0, 0) &&
               !PQgetisnull(setup, 0, 1) && !PQgetisnull(setup, 0, 2);

    /* the generation first, then the shared epoch: in the other order a request between the two stores would build a key
     * shared with every instance (the database's epoch) under the generation from before this set-up */
    booka_invalidation_apply_setup(read ? PQgetvalue(setup, 0, 0) : NULL, read ? PQgetvalue(setup, 0, 2) : NULL);
    if (read)
        atomic_store(&booka_cache_epoch, epoch_of(PQgetvalue(setup, 0, 1)));
    /* for the operator: a set-up that saw a writer keys privately until the next write (misses after a restart); logged
     * before readiness says the connection is up */
    if (read && PQgetvalue(setup, 0, 2)[0] != '\0')
        booka_log(NULL, "cache",
                  "set-up at sequence %s saw a write in flight (or a sequence CACHE over 1): cache keys shared "
                  "with other instances again after the next write",
                  PQgetvalue(setup, 0, 0));
    else if (read)
        booka_log(NULL, "cache", "set-up at sequence %s: cache keys shared with every instance at the same sequence",
                  PQgetvalue(setup, 0, 0));
    atomic_store(&listening, 1);
}

static void on_notify(void *data, const char *payload)
{
    booka_invalidation_apply_payload(payload);
}

static void on_down(void *data)
{
    atomic_store(&listening, 0);
}

void booka_invalidation_context_init(h2o_context_t *ctx)
{
    static const booka_db_listen_callbacks_t callbacks = {on_up, on_notify, on_down};
    int expected = 0;

    if (!atomic_compare_exchange_strong(&started, &expected, 1))
        return;
    /* until the database's epoch is read, a random one: this process then shares no keys with anyone */
    atomic_store(&booka_cache_epoch, ((uint64_t)rand() << 32) ^ (uint64_t)rand() ^ (uint64_t)getpid() ^ (uint64_t)time(NULL));
    /* LISTEN commits before the set-up query reads the sequence, so no write falls between the two; the same statement
     * then looks for a write of ours in flight, and takes the snapshot only when there is one (why: the comment at the
     * top). The lock check names s.value, so it runs per row of the sequence's scan, after the read. */
    listener = booka_db_listen(
        ctx, CHANNEL,
        "SELECT s.value, (SELECT epoch FROM booka.cache_epoch), "
        "CASE WHEN (SELECT seqcache FROM pg_catalog.pg_sequence WHERE seqrelid = 'booka.cache_generation'::regclass) > 1 "
        "OR EXISTS (SELECT FROM pg_catalog.pg_locks l WHERE s.value IS NOT NULL AND l.locktype = 'relation' "
        "AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) "
        "AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock') "
        "AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid() "
        "AND l.relation IN (SELECT t.tgrelid FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'booka')) "
        "THEN pg_catalog.pg_current_snapshot()::text ELSE '' END "
        "FROM (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS value FROM booka.cache_generation) AS s",
        &callbacks, NULL);
}
