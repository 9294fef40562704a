/* db.h: per-thread pools of asynchronous Postgres connections driven by the h2o event loop (libpq non-blocking, pipeline
 * mode), with a bounded wait queue, per-query deadlines, retries of read-only queries and an optional read replica. */
#ifndef BOOKA_DB_H
#define BOOKA_DB_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include "h2o.h"
#include "http/json.h"
#include "http/trace.h"

#define BOOKA_DB_MAX_STATEMENTS 4
#define BOOKA_DB_MAX_PARAMS 16

typedef enum booka_db_status {
    BOOKA_DB_OK,
    BOOKA_DB_QUEUE_FULL,  /* the thread's wait queue is full: answer 503 with Retry-After */
    BOOKA_DB_UNAVAILABLE, /* no connection to Postgres, or it was lost and a retry was not possible: 503 */
    BOOKA_DB_TIMEOUT,     /* the query outlived its deadline (or statement_timeout): 504 */
    BOOKA_DB_QUERY_ERROR, /* Postgres rejected the statement: 500, logged with its SQLSTATE */
} booka_db_status_t;

/* booka_db_statement_t: one SQL statement and its text parameters (a NULL value is SQL NULL). The SQL text must be built
 * only from fixed fragments; every user-supplied value travels in `values`. */
typedef struct booka_db_statement {
    const char *sql;
    size_t num_params;
    const char *values[BOOKA_DB_MAX_PARAMS];
} booka_db_statement_t;

typedef struct booka_db_query booka_db_query_t;

/* booka_db_query_cb: called exactly once per accepted query (never from inside booka_db_submit, never after
 * booka_db_query_abandon). With BOOKA_DB_OK, results[i] is statement i's PGRES_TUPLES_OK result; results are freed when
 * the callback returns. */
typedef void (*booka_db_query_cb)(void *data, booka_db_status_t status, PGresult *const *results, size_t num_results);

#define BOOKA_DB_READ_ONLY 1 /* safe to retry after a lost connection, and may run on the read replica */
#define BOOKA_DB_PRIMARY 2   /* with BOOKA_DB_READ_ONLY: retried like one, but never sent to the read replica */

/* booka_db_query_new: a query of `num_statements` statements sent as one pipeline (one round trip, one implicit
 * transaction). Everything is copied, so the arguments may die after the call. Never NULL: memory running out aborts,
 * as h2o_mem_alloc does (the SQL is ours, the values bounded by the request), and so do more than
 * BOOKA_DB_MAX_STATEMENTS statements or BOOKA_DB_MAX_PARAMS parameters (a caller's bug). */
booka_db_query_t *booka_db_query_new(const booka_db_statement_t *statements, size_t num_statements, int flags, booka_db_query_cb cb,
                                     void *data);

/* booka_db_query_trace: ties `query` to a request: the pool's log lines about it name trace->request_id (copied now),
 * and the time from submit to answer is added to trace->db_us just before the callback runs (never later, so the trace
 * needs to live only until then, or until booka_db_query_abandon). Call before booka_db_submit. */
void booka_db_query_trace(booka_db_query_t *query, booka_trace_t *trace);

/* booka_db_submit: queues `query` on the pool of ctx's thread (the replica's for read-only queries when one is set up and
 * reachable). Returns BOOKA_DB_OK when accepted (the callback follows later), else BOOKA_DB_QUEUE_FULL or
 * BOOKA_DB_UNAVAILABLE after freeing `query` (no callback). */
booka_db_status_t booka_db_submit(h2o_context_t *ctx, booka_db_query_t *query);

/* booka_db_query_abandon: the submitter no longer wants the answer (its request went away). No callback follows; a query
 * still running finishes (or times out) on its connection and is freed then. */
void booka_db_query_abandon(booka_db_query_t *query);

/* booka_db_status_message: what `status` means, for log lines ("the database did not answer within query-timeout"). */
const char *booka_db_status_message(booka_db_status_t status);

/* booka_db_retry_after: seconds a client should wait before trying again while Postgres is unavailable (at least 1). */
unsigned booka_db_retry_after(h2o_context_t *ctx);

/* booka_db_context_init: creates ctx's pools and starts connecting, so the first request does not pay for it. Handlers
 * that use the database call it from their on_context_init; calling it again is a no-op. */
void booka_db_context_init(h2o_context_t *ctx);

/* booka_db_is_up: whether ctx's primary pool has a live connection (the /readyz "postgres" dependency). */
int booka_db_is_up(h2o_context_t *ctx);

typedef struct booka_db_stats {
    uint64_t connections; /* up: in_use + idle */
    uint64_t in_use, idle, connecting, down, waiting;
    uint64_t queries, waits, queue_full, timeouts, retries, failures;
} booka_db_stats_t;

/* booka_db_get_stats: the numbers of ctx's primary pool (replica = 0) or replica pool (replica = 1). */
void booka_db_get_stats(h2o_context_t *ctx, int replica, booka_db_stats_t *stats);

/* booka_db_collect_metrics: every thread's pools, summed per target, in Prometheus text format (gauges by connection
 * state, queue length, counters, queue-wait and query-duration histograms); a booka_metrics_collector. */
void booka_db_collect_metrics(booka_buf_t *out);

/* booka_db_require: the configuration has a user of the database (e.g. `booka.list: ON`); config validation then
 * insists on a connection string and /readyz reports "postgres". Call while the configuration is applied. */
void booka_db_require(void);

/* booka_db_replica_follow: with `booka.postgres-replica`, starts the replica monitor on ctx's loop (the first call; later
 * calls are no-ops) and has it follow *generation, the cache generation that write notifications move, and *changes, the
 * count of those moves (stored after the generation). For each new value the monitor reads a WAL position on the primary,
 * after the notification arrived and so past the write's commit (the write's fence); booka_db_read_generation keeps
 * answering the previous generation until the replica has replayed the fence, or reads go to the primary. Without a
 * replica it does nothing. (plugin/db/README.md, "Replica") */
void booka_db_replica_follow(h2o_context_t *ctx, _Atomic uint64_t *generation, _Atomic uint64_t *changes);

/* booka_db_read_generation: the generation cache keys should carry now, given the newest notified one: `notified`
 * without a replica; with one, the newest generation whose fence the replica has replayed or whose reads go to the
 * primary, so that a fill keyed by it never reads data older than the write that made it. Any thread. */
uint64_t booka_db_read_generation(uint64_t notified);

/* booka_db_released_changes: how many of the followed changes booka_db_read_generation has let through (their generation,
 * or a later one, is what it answers now), given `applied`, the count so far: `applied` itself without a replica
 * monitor. Any thread. */
uint64_t booka_db_released_changes(uint64_t applied);

/* booka_db_replica_hold_max: the longest a change can be held back after an instance heard it (ms): 0 without a replica;
 * else max-lag (the hold's limit) plus two probe intervals (the monitor sees a change and judges its hold at its ticks). */
uint64_t booka_db_replica_hold_max(void);

/* booka_db_register_configurator: `booka.postgres` and `booka.postgres-replica` (see plugin/db/README.md). */
void booka_db_register_configurator(h2o_globalconf_t *conf);

#endif
