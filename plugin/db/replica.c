/* replica.c: the read replica's monitor: read-your-writes through a streaming standby, and its health and lag.
 *
 * One monitor per process, on the loop of the first list handler's thread. Every probe-interval it asks the primary for
 * its WAL positions and the replica for its replay position and state (both through the pools, at the front of their
 * wait queues and never refused for queue-limit: a full queue says nothing about the server).
 * From those it knows:
 * - the replica's lag: how long the primary has had WAL (flushed, so sendable) that the replica has not replayed; an idle
 *   primary means no lag, and a replica cut off while the primary writes shows a lag that grows;
 * - whether reads may go to the replica: it answers, is in recovery (not promoted), is not paused, receives WAL from a
 *   primary that answers, and lags at most max-lag;
 * - each write's fence: when the generation followed (moved by the write's NOTIFY) changes, a WAL position read on the
 *   primary after that is past the write's commit record (db_fence_candidate). The generation cache keys carry
 *   (booka_db_read_generation) moves to the new one only once the replica has replayed its fence, or at once when reads
 *   go to the primary, or after max-lag (then reads go to the primary until the replica passes the fence). Meanwhile
 *   requests keep getting the previous generation's cached answers, which is what the replica has. So a fill keyed by a
 *   generation never reads a replica that misses the write behind it. (Design and alternatives: plugin/db/README.md,
 *   "Replica".) */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include "db/db.h"
#include "db/internal.h"
#include "health/health.h"
#include "http/http.h"
#include "metrics/metrics.h"

#define FENCE_UNKNOWN DB_FENCE_UNKNOWN /* a published generation whose fence is not read yet: the replica cannot pass it */
#define MAX_HISTORY 100000

/* The replica's state as the monitor judges it; only STREAMING takes reads. */
enum replica_status { STARTING, STREAMING, LAGGING, PAUSED, NOT_RECEIVING, PROMOTED, UNREACHABLE, NUM_STATUSES };
static const char *const status_names[NUM_STATUSES] = {"starting",      "streaming", "lagging",    "paused",
                                                       "not_receiving", "promoted",  "unreachable"};
static const char *const status_reasons[NUM_STATUSES] = {
    "not probed yet",
    "streaming",
    "lagging past max-lag",
    "WAL replay is paused",
    "not receiving WAL from a primary that answers",
    "not in recovery (promoted, or not a standby)",
    "not answering",
};

/* How a held generation became the one cache keys carry, for the metrics. */
enum release_reason { RELEASE_REPLAYED, RELEASE_PRIMARY, RELEASE_TIMEOUT, NUM_RELEASES };
static const char *const release_names[NUM_RELEASES] = {"replayed", "primary", "timeout"};

/* Read from any thread. replay_lsn is the replica's replay position as its last probe reported it, never clamped: a
 * standby that comes back behind (crash recovery, a restored snapshot) must not count as having what it no longer has. */
static _Atomic uint64_t visible_generation, visible_fence, replay_lsn, lag_ms;
/* released_changes: the followed changes (counted by *monitor.changes) whose generation, or a later one, keys carry now. */
static _Atomic uint64_t released_changes;
/* Generations are compared by the order the monitor saw them in, never by value: a value is a write's sequence number
 * or, after a reconnect or an unknown payload, a derived one with the top bit set (cache/invalidate.c), so a newer
 * generation can be a smaller number. visible_ordinal: the published generation's place in that order (0: the first
 * one, published by whichever thread asked first). Written under publish_mutex. */
static _Atomic uint64_t visible_ordinal;
static _Atomic int status = STARTING, lag_known;
static _Atomic uint64_t releases[NUM_RELEASES];
static booka_histogram_t hold_time;
static pthread_mutex_t publish_mutex = PTHREAD_MUTEX_INITIALIZER;
static atomic_int started;

/* The monitor's own state: only its loop thread touches it. */
static struct monitor {
    h2o_context_t *ctx;
    _Atomic uint64_t *followed, *changes;
    h2o_timeout_t interval;
    h2o_timeout_entry_t tick;
    int primary_in_flight, replica_in_flight;
    uint64_t primary_sent_at;
    uint64_t primary_probes; /* primary probes sent so far; the one in flight is number primary_probes */
    uint64_t last_ordinal;   /* the ordinal of the last followed generation seen */
    uint64_t replica_sent_at;
    int primary_up, replica_answered; /* the last probe of each answered (a probe refused for queue-limit tells nothing) */
    const char *replica_failure;      /* why the replica's last probe did not answer, for the log (NULL: none failed yet) */
    int in_recovery, paused, receiving;
    uint64_t async_window;          /* ms: 3 x the primary's wal_writer_delay, 0 until read (see db_fence_candidate) */
    db_followed_t pending, visible; /* a followed generation held back (generation 0: none), and the published one */
    uint64_t pending_since;         /* when the first generation still held back was seen */
    db_lag_history_t history;
} monitor;

/* ---- WAL positions and lag (pure, unit-tested) ---- */

int db_lsn_parse(const char *text, uint64_t *lsn)
{
    unsigned hi, lo;
    int end = 0;

    if (text == NULL || sscanf(text, "%X/%X%n", &hi, &lo, &end) != 2 || text[end] != '\0')
        return -1;
    *lsn = (uint64_t)hi << 32 | lo;
    return 0;
}

uint64_t db_lsn_record_end(uint64_t insert_lsn, uint64_t block_size, uint64_t segment_size)
{
    static const uint64_t short_header = 24, long_header = 40; /* SizeOfXLogShortPHD, SizeOfXLogLongPHD */
    uint64_t header;

    if (block_size == 0)
        return insert_lsn;
    header = segment_size != 0 && insert_lsn % segment_size < block_size ? long_header : short_header;
    return insert_lsn % block_size == header ? insert_lsn - header : insert_lsn;
}

void db_lag_history_init(db_lag_history_t *h, size_t capacity)
{
    *h = (db_lag_history_t){.capacity = capacity == 0 ? 1 : capacity};
    h->samples = h2o_mem_alloc(h->capacity * sizeof(*h->samples));
}

void db_lag_history_dispose(db_lag_history_t *h)
{
    free(h->samples);
    *h = (db_lag_history_t){NULL};
}

static const struct db_lag_sample *history_at(const db_lag_history_t *h, size_t i)
{
    return h->samples + (h->first + i) % h->capacity;
}

void db_lag_history_add(db_lag_history_t *h, uint64_t at, uint64_t lsn)
{
    if (h->count != 0 && lsn <= history_at(h, h->count - 1)->lsn)
        return;
    if (h->count == h->capacity) {
        h->first = (h->first + 1) % h->capacity;
        --h->count;
    }
    h->samples[(h->first + h->count++) % h->capacity] = (struct db_lag_sample){at, lsn};
}

uint64_t db_lag_history_lag(const db_lag_history_t *h, uint64_t now, uint64_t replayed)
{
    for (size_t i = 0; i != h->count; ++i) {
        const struct db_lag_sample *s = history_at(h, i);
        if (s->lsn > replayed)
            return now > s->at ? now - s->at : 0;
    }
    return 0;
}

/* ---- the generation cache keys carry ---- */

/* publish: `generation` becomes the one cache keys carry, with `fence` (or FENCE_UNKNOWN) as what the replica must have
 * replayed to take reads. The fence is stored first: a thread that sees the new generation then sees its fence (or a
 * later one). Generations only move forward: `ordinal` must be past the published one's (or this is the first). */
static void publish(uint64_t fence, uint64_t generation, uint64_t ordinal)
{
    pthread_mutex_lock(&publish_mutex);
    if (atomic_load(&visible_generation) == 0 || ordinal > atomic_load(&visible_ordinal)) {
        atomic_store(&visible_fence, fence);
        atomic_store(&visible_ordinal, ordinal);
        atomic_store(&visible_generation, generation);
    }
    pthread_mutex_unlock(&publish_mutex);
}

/* lower_visible_fence: `fence` is a valid fence of the published `generation` (see fence_candidate); the lower of two
 * valid fences is as safe and sooner replayed. Ignored when another generation was published meanwhile. */
static void lower_visible_fence(uint64_t fence, uint64_t generation)
{
    pthread_mutex_lock(&publish_mutex);
    if (atomic_load(&visible_generation) == generation && fence < atomic_load(&visible_fence))
        atomic_store(&visible_fence, fence);
    pthread_mutex_unlock(&publish_mutex);
}

/* release_changes: the followed changes up to `serial` are let through (keys carry their generation or a later one). */
static void release_changes(uint64_t serial)
{
    uint64_t was = atomic_load(&released_changes);

    while (serial > was && !atomic_compare_exchange_weak(&released_changes, &was, serial))
        ;
}

uint64_t booka_db_released_changes(uint64_t applied)
{
    if (db_settings.replica.conninfo == NULL || !atomic_load(&started))
        return applied;
    return atomic_load(&released_changes);
}

uint64_t booka_db_replica_hold_max(void)
{
    return db_settings.replica.conninfo != NULL ? db_settings.replica_max_lag + 2 * db_settings.replica_interval : 0;
}

uint64_t booka_db_read_generation(uint64_t notified)
{
    uint64_t visible;

    if (db_settings.replica.conninfo == NULL)
        return notified;
    /* the first generation the LISTEN connection reads (at start-up) has no older one worth serving: it is published at
     * once, reading the primary until its fence is known and replayed */
    if ((visible = atomic_load(&visible_generation)) == 0 && notified != 0) {
        publish(FENCE_UNKNOWN, notified, 0);
        visible = atomic_load(&visible_generation);
    }
    /* a newer notified generation is held by the monitor until the replica has its fence (observe_generation) */
    return visible != 0 ? visible : notified;
}

int db_replica_readable(void)
{
    return atomic_load(&status) == STREAMING && atomic_load(&replay_lsn) >= atomic_load(&visible_fence);
}

/* ---- judging the replica ---- */

/* judge: the replica's state from the last probes of both servers. */
static enum replica_status judge(void)
{
    /* the first probe on its way is no failure: starting until one fails (or hangs past max-lag) */
    if (!monitor.replica_answered)
        return monitor.replica_failure == NULL ? STARTING : UNREACHABLE;
    if (!monitor.in_recovery)
        return PROMOTED;
    if (monitor.paused)
        return PAUSED;
    /* with the primary unreachable too, a replica that stopped receiving is still the best source there is */
    if (!monitor.receiving && monitor.primary_up)
        return NOT_RECEIVING;
    if (atomic_load(&lag_ms) > db_settings.replica_max_lag)
        return LAGGING;
    return STREAMING;
}

/* set_status: the new judgement, logged when it changes. */
static void set_status(enum replica_status next)
{
    enum replica_status prev = atomic_exchange(&status, next);

    if (prev == next)
        return;
    if (next == STREAMING)
        booka_log(NULL, "db", "replica: streaming (lag %.3f s): list reads go to the replica", atomic_load(&lag_ms) / 1000.0);
    else if (prev == STREAMING || prev == STARTING)
        booka_log(NULL, "db", "replica: %s%s%s%s: list reads go to the primary", status_reasons[next],
                  next == UNREACHABLE ? " (" : "", next == UNREACHABLE ? monitor.replica_failure : "",
                  next == UNREACHABLE ? ")" : "");
    else
        booka_log(NULL, "db", "replica: now %s", status_reasons[next]);
}

/* release_pending: the held generation becomes the one cache keys carry. */
static void release_pending(uint64_t now, enum release_reason reason)
{
    if (reason == RELEASE_TIMEOUT)
        booka_log(NULL, "db",
                  "replica: generation %" PRIu64 " held for max-lag without the replica replaying its fence (%" PRIX64
                  " replayed, %" PRIX64 " needed); list reads go to the primary until it does",
                  monitor.pending.generation, atomic_load(&replay_lsn), monitor.pending.fence);
    publish(monitor.pending.fence, monitor.pending.generation, monitor.pending.ordinal);
    release_changes(monitor.pending.serial);
    monitor.visible = monitor.pending;
    ++releases[reason];
    booka_histogram_observe(&hold_time, (now - monitor.pending_since) * 1000);
    monitor.pending.generation = 0;
}

/* evaluate: judges the replica again, then releases a held generation once the replica has replayed its fence, once reads
 * go to the primary anyway, or after max-lag (reads then go to the primary until the replica passes the fence). */
static void evaluate(void)
{
    uint64_t now = h2o_now(monitor.ctx->loop);
    int replayed;

    set_status(judge());
    if (monitor.pending.generation == 0)
        return;
    if (monitor.pending.ordinal <= atomic_load(&visible_ordinal)) {
        monitor.pending.generation = 0;
        return;
    }
    replayed = atomic_load(&replay_lsn) >= monitor.pending.fence;
    if (atomic_load(&status) == STREAMING && replayed)
        release_pending(now, RELEASE_REPLAYED);
    else if (atomic_load(&status) != STREAMING)
        release_pending(now, RELEASE_PRIMARY);
    else if (now - monitor.pending_since >= db_settings.replica_max_lag)
        release_pending(now, RELEASE_TIMEOUT);
}

/* ---- probes ---- */

static void send_primary_probe(void);
static void observe_generation(uint64_t now);

/* result_value: row 0's column `col` of a one-row result, NULL when SQL NULL or absent. */
static const char *result_value(PGresult *const *results, size_t num_results, int col)
{
    if (num_results < 1 || PQntuples(results[0]) != 1 || PQnfields(results[0]) <= col || PQgetisnull(results[0], 0, col))
        return NULL;
    return PQgetvalue(results[0], 0, col);
}

/* db_fence_candidate: a fence of generation `f` from primary probe number `probe` (sent at `sent_at`), or FENCE_UNKNOWN
 * when it gives none. A fence must be at or past the end of the write's commit record. The insert position read by a probe
 * sent after the generation was seen is (the commit was inserted before the notification was sent); a probe sent before
 * (f->after_probe counts the probes sent by then) gives nothing, whatever it read: at start-up the first generation is
 * published with no earlier one, and a probe already on its way then may have read a position before a write the
 * generation covers. Whatever else was inserted after the commit and not flushed yet (a page prune by a reader, say)
 * cannot reach a standby until something flushes it, which on a quiet primary may take seconds. So the flush position is
 * a fence too, once read 3 x wal_writer_delay (`async_window`, 0: not known) after the notification was seen: a
 * synchronous commit is flushed before its NOTIFY goes out, and the WAL writer flushes an asynchronous one within 3 x
 * wal_writer_delay (PostgreSQL's documented bound). The lower of the two is used. */
uint64_t db_fence_candidate(const db_followed_t *f, uint64_t probe, uint64_t sent_at, uint64_t async_window, uint64_t insert,
                            uint64_t flush)
{
    if (f->generation == 0 || probe <= f->after_probe)
        return FENCE_UNKNOWN;
    if (async_window != 0 && sent_at >= f->seen_at + async_window && flush < insert)
        return flush;
    return insert;
}

/* offer_fence: what one primary probe tells about the held and the published generation's fences. */
static void offer_fence(uint64_t insert, uint64_t flush)
{
    uint64_t fence =
        db_fence_candidate(&monitor.pending, monitor.primary_probes, monitor.primary_sent_at, monitor.async_window, insert, flush);

    if (fence < monitor.pending.fence)
        monitor.pending.fence = fence;
    fence =
        db_fence_candidate(&monitor.visible, monitor.primary_probes, monitor.primary_sent_at, monitor.async_window, insert, flush);
    if (fence < monitor.visible.fence) {
        monitor.visible.fence = fence;
        lower_visible_fence(fence, monitor.visible.generation);
    }
}

static void on_primary_probe(void *data, booka_db_status_t st, PGresult *const *results, size_t num_results)
{
    uint64_t insert, flush;
    const char *block = result_value(results, num_results, 2), *segment = result_value(results, num_results, 3),
               *writer_delay = result_value(results, num_results, 4);

    monitor.primary_in_flight = 0;
    if (st == BOOKA_DB_QUEUE_FULL)
        return; /* refused before it reached the server: no news of the primary (probes bypass queue-limit: not expected) */
    monitor.primary_up = st == BOOKA_DB_OK && db_lsn_parse(result_value(results, num_results, 0), &insert) == 0 &&
                         db_lsn_parse(result_value(results, num_results, 1), &flush) == 0 && block != NULL && segment != NULL &&
                         writer_delay != NULL;
    if (monitor.primary_up) {
        monitor.async_window = 3 * strtoull(writer_delay, NULL, 10);
        db_lag_history_add(&monitor.history, monitor.primary_sent_at, flush);
        offer_fence(db_lsn_record_end(insert, strtoull(block, NULL, 10), strtoull(segment, NULL, 10)), flush);
    }
    evaluate();
    /* a generation that arrived while this probe was on its way needs a position read after it: ask now */
    if (monitor.primary_up && monitor.pending.generation != 0 && monitor.pending.fence == FENCE_UNKNOWN)
        send_primary_probe();
}

static void on_replica_probe(void *data, booka_db_status_t st, PGresult *const *results, size_t num_results)
{
    const char *recovery = result_value(results, num_results, 0), *pause = result_value(results, num_results, 2),
               *receiving = result_value(results, num_results, 3);
    uint64_t replayed;

    monitor.replica_in_flight = 0;
    if (st == BOOKA_DB_QUEUE_FULL)
        return; /* refused before it reached the server: no news of the replica (not "not answering") */
    monitor.replica_answered = st == BOOKA_DB_OK && recovery != NULL && receiving != NULL;
    if (!monitor.replica_answered)
        monitor.replica_failure = st != BOOKA_DB_OK ? booka_db_status_message(st) : "an answer without its values";
    if (monitor.replica_answered) {
        monitor.in_recovery = recovery[0] == 't';
        monitor.paused = pause != NULL && strcmp(pause, "not paused") != 0;
        monitor.receiving = receiving[0] == 't';
        /* as reported, also when lower than before: a standby restarted from an older state has lost what it had */
        if (db_lsn_parse(result_value(results, num_results, 1), &replayed) == 0)
            atomic_store(&replay_lsn, replayed);
        else
            atomic_store(&replay_lsn, 0); /* NULL: not replaying at all (not a standby); nothing is known to be there */
        atomic_store(&lag_ms, db_lag_history_lag(&monitor.history, h2o_now(monitor.ctx->loop), atomic_load(&replay_lsn)));
        atomic_store(&lag_known, 1);
    }
    evaluate();
}

/* send_probe: one statement on the primary (flags 0) or the replica (DB_REPLICA_ONLY), at the front of the pool's queue and
 * never refused for queue-limit (DB_PRIORITY); `cb` runs with its answer, or with the failure when it cannot be sent. */
static void send_probe(const char *sql, int flags, booka_db_query_cb cb)
{
    booka_db_statement_t statement = {sql, 0, {NULL}};
    booka_db_query_t *q = booka_db_query_new(&statement, 1, flags | DB_PRIORITY, cb, NULL);
    booka_db_status_t st = booka_db_submit(monitor.ctx, q);

    if (st != BOOKA_DB_OK)
        cb(NULL, st, NULL, 0);
}

/* send_primary_probe: the primary's insert and flush positions (fences: fence_candidate; the flush position is also what a
 * standby can have received: the lag samples), the WAL page and segment sizes (db_lsn_record_end) and wal_writer_delay
 * (ms, from pg_settings, which any role reads). */
static void send_primary_probe(void)
{
    monitor.primary_in_flight = 1;
    monitor.primary_sent_at = h2o_now(monitor.ctx->loop);
    observe_generation(monitor.primary_sent_at); /* what is seen now counts as seen before this probe */
    ++monitor.primary_probes;
    send_probe("SELECT pg_current_wal_insert_lsn(), pg_current_wal_flush_lsn(), current_setting('wal_block_size'), "
               "pg_size_bytes(current_setting('wal_segment_size')), "
               "(SELECT setting FROM pg_settings WHERE name = 'wal_writer_delay')",
               0, on_primary_probe);
}

/* send_replica_probe: whether it is a standby, what it has replayed, whether replay is paused (the pause functions fail
 * outside recovery, hence the CASE), and whether a WAL receiver runs (its row is visible to any role). */
static void send_replica_probe(void)
{
    monitor.replica_in_flight = 1;
    monitor.replica_sent_at = h2o_now(monitor.ctx->loop);
    send_probe("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(), CASE WHEN pg_is_in_recovery() THEN "
               "pg_get_wal_replay_pause_state() END, EXISTS (SELECT FROM pg_stat_wal_receiver)",
               DB_REPLICA_ONLY, on_replica_probe);
}

/* observe_generation: a new followed generation is held (pending) until evaluate releases it; the time counts from the
 * first generation held, so a stream of writes cannot hold lists back past max-lag. The count of changes is read before
 * the generation (it is stored after it), so the generation read is that change's or a later one's. */
static void observe_generation(uint64_t now)
{
    uint64_t changes = atomic_load(monitor.changes), followed = atomic_load(monitor.followed), visible;

    visible = booka_db_read_generation(followed); /* publishes the first generation */
    if (visible != monitor.visible.generation)    /* published by a request thread (the first one) */
        monitor.visible = (db_followed_t){.generation = visible,
                                          .ordinal = atomic_load(&visible_ordinal),
                                          .seen_at = now,
                                          .fence = FENCE_UNKNOWN,
                                          .after_probe = monitor.primary_probes};
    if (followed == visible) {
        release_changes(changes); /* keys carry the generation of these changes (or of a later one) */
        return;
    }
    if (followed == monitor.pending.generation)
        return;
    if (monitor.pending.generation == 0)
        monitor.pending_since = now;
    monitor.pending = (db_followed_t){.generation = followed,
                                      .ordinal = ++monitor.last_ordinal,
                                      .seen_at = now,
                                      .fence = FENCE_UNKNOWN,
                                      .serial = changes,
                                      .after_probe = monitor.primary_probes};
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    uint64_t now = h2o_now(monitor.ctx->loop);

    observe_generation(now);
    if (!monitor.primary_in_flight)
        send_primary_probe();
    if (!monitor.replica_in_flight)
        send_replica_probe();
    else if (now - monitor.replica_sent_at > db_settings.replica_max_lag) {
        monitor.replica_answered = 0; /* a probe hanging past max-lag: the replica is not answering */
        monitor.replica_failure = "its probe has been waiting for max-lag";
    }
    evaluate();
    h2o_timeout_link(monitor.ctx->loop, &monitor.interval, &monitor.tick);
}

void booka_db_replica_follow(h2o_context_t *ctx, _Atomic uint64_t *generation, _Atomic uint64_t *changes)
{
    int expected = 0;
    uint64_t span;

    if (db_settings.replica.conninfo == NULL || !atomic_compare_exchange_strong(&started, &expected, 1))
        return;
    monitor.ctx = ctx;
    monitor.followed = generation;
    monitor.changes = changes;
    /* samples arrive at most once per interval: twice max-lag's worth measures any lag up to there exactly */
    span = 2 * db_settings.replica_max_lag / db_settings.replica_interval + 16;
    db_lag_history_init(&monitor.history, span < MAX_HISTORY ? span : MAX_HISTORY);
    h2o_timeout_init(ctx->loop, &monitor.interval, db_settings.replica_interval);
    monitor.tick.cb = on_tick;
    on_tick(&monitor.tick);
}

/* ---- /readyz and /metrics ---- */

static int replica_is_up(h2o_context_t *ctx, void *data)
{
    return atomic_load(&status) == STREAMING;
}

static void write_status(booka_buf_t *out, void *data)
{
    booka_buf_appendf(out, "\"%s\"", status_names[atomic_load(&status)]);
}

static void write_lag(booka_buf_t *out, void *data)
{
    if (atomic_load(&lag_known))
        booka_buf_appendf(out, "%.3f", atomic_load(&lag_ms) / 1000.0);
    else
        booka_buf_append_str(out, "null");
}

static void collect_metrics(booka_buf_t *out)
{
    char labels[64];
    enum replica_status now = atomic_load(&status);

    booka_metrics_write_header(out, "booka_db_replica_lag_seconds", "gauge",
                               "How long the primary has had WAL the read replica has not replayed (0 when caught up).");
    booka_metrics_write_sample(out, "booka_db_replica_lag_seconds", "", atomic_load(&lag_ms) / 1000.0);
    booka_metrics_write_header(out, "booka_db_replica_status", "gauge",
                               "The read replica's state (1 for the current one); list reads go to it only while streaming.");
    for (size_t i = 0; i != NUM_STATUSES; ++i) {
        snprintf(labels, sizeof(labels), "status=\"%s\"", status_names[i]);
        booka_metrics_write_sample(out, "booka_db_replica_status", labels, i == now);
    }
    booka_metrics_write_header(out, "booka_db_replica_readable", "gauge",
                               "1 while list reads go to the replica (streaming, and past the current generation's fence).");
    booka_metrics_write_sample(out, "booka_db_replica_readable", "", db_replica_readable());
    booka_metrics_write_header(out, "booka_db_replica_generations_total", "counter",
                               "Write notifications whose generation cache keys took, by how: the replica replayed the write, "
                               "reads went to the primary, or max-lag ran out (reads on the primary until it replays).");
    for (size_t i = 0; i != NUM_RELEASES; ++i) {
        snprintf(labels, sizeof(labels), "how=\"%s\"", release_names[i]);
        booka_metrics_write_sample(out, "booka_db_replica_generations_total", labels, atomic_load(&releases[i]));
    }
    booka_metrics_write_header(out, "booka_db_replica_hold_seconds", "histogram",
                               "Time from the monitor seeing a write's notification to cache keys taking its generation.");
    booka_metrics_write_histogram(out, "booka_db_replica_hold_seconds", "", &hold_time);
}

void db_replica_configure(void)
{
    booka_health_add_dependency("replica", 0, replica_is_up, NULL);
    booka_health_add_detail("replica_status", write_status, NULL);
    booka_health_add_detail("replica_lag_seconds", write_lag, NULL);
    booka_metrics_add_collector(collect_metrics);
}
