/* pool.h: what the pool's files share: the connection, pool, per-thread and query types (the query's lifetime is written
 * down once, above struct booka_db_query), and the functions one file calls in another. Not part of the API (db.h). */
#ifndef BOOKA_DB_POOL_H
#define BOOKA_DB_POOL_H

#include <sys/types.h>
#include "db/db.h"
#include "db/internal.h"
#include "db/link.h"

#define MAX_COMMANDS (BOOKA_DB_MAX_STATEMENTS * 2) /* a Prepare and an Execute per statement */

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_IDLE, CONN_BUSY, CONN_CANCELLING, NUM_CONN_STATES };

enum command_kind { CMD_PREPARE, CMD_EXECUTE };

struct prepared {
    uint64_t hash;
    char *sql;
    uint64_t name; /* the statement is booka_<name> */
};

struct conn {
    struct pool *pool;
    enum conn_state state;
    db_link_t link;            /* the libpq connection and its socket (link.pg, link.sock) */
    h2o_timeout_entry_t timer; /* the cancel grace */
    h2o_linklist_t idle_link;
    uint64_t serial;          /* changes whenever the connection is closed: stale cancel replies are ignored */
    uint64_t born;            /* pool generation when the connection came up */
    uint64_t next_attempt_at; /* CONN_DOWN: when to connect again */
    uint64_t idle_since;      /* CONN_IDLE: when it last became idle */
    int cancel_pending;       /* a cancel request is on its way; the connection is not reused before it lands */
    booka_db_query_t *query;  /* running */
    struct {
        unsigned char kind, statement;
    } commands[MAX_COMMANDS];
    size_t num_commands, command_index;
    struct prepared *prepared;
    size_t num_prepared;
    uint64_t next_name; /* names are never reused on a session: a forgotten statement may still exist on the server */
};

/* pool_counters: what booka_db_stats_t reports, as atomics: only the pool's thread writes them, /metrics reads them from
 * whichever thread serves the scrape. */
struct pool_counters {
    _Atomic uint64_t queries, waits, queue_full, timeouts, retries, failures;
};

enum pool_target { TARGET_PRIMARY, TARGET_REPLICA, NUM_TARGETS };

struct pool {
    struct db_thread *thread;
    enum pool_target target_index;
    const char *name; /* "primary" or "replica", for the log and the metrics' `pool` label */
    db_target_t *target;
    struct conn *conns;
    h2o_linklist_t idle;    /* most recently used first */
    h2o_linklist_t waiting; /* FIFO of booka_db_query_t */
    _Atomic size_t num_waiting;
    size_t live;
    _Atomic size_t num_in_state[NUM_CONN_STATES]; /* connections per state (db_conn_set_state), for /metrics */
    uint64_t generation;                          /* bumped on every lost connection */
    unsigned consecutive_failures;
    uint64_t down_until; /* earliest next connection attempt while down */
    h2o_timeout_t connect_timeout, cancel_grace;
    struct pool_counters stats;
};

struct db_thread {
    h2o_context_t *ctx;
    h2o_loop_t *loop;
    struct pool primary, replica;
    int has_replica;
    h2o_timeout_t query_timeout, immediate, tick;
    h2o_timeout_entry_t tick_entry;
    h2o_multithread_receiver_t cancel_replies;
    struct db_thread *next_here; /* the next context's pools of the same thread (threads_here) */
};

/* booka_db_query: one query, from booka_db_query_new to query_free. Its states, where it is linked, and who ends it:
 *
 * | state                  | linked                                        | owner, and what ends the state                      |
 * |------------------------|-----------------------------------------------|-----------------------------------------------------|
 * | new                    | nothing (thread NULL)                         | the submitter; booka_db_submit queues it, or frees  |
 * |                        |                                               | it when it refuses (no callback)                    |
 * | waiting                | link in pool->waiting; deadline on            | the queue: dispatch sends it (running), on_deadline |
 * |                        | thread->query_timeout (cb on_deadline)        | answers TIMEOUT and frees, pool_fail_waiting makes  |
 * |                        |                                               | it failing, booka_db_query_abandon frees it         |
 * | running                | conn->query == q and q->conn == conn; the     | the connection: conn_query_done answers and frees   |
 * |                        | deadline (until it fires)                     | it or queues it again (retry); conn_lost queues it  |
 * |                        |                                               | again or makes it failing; on_deadline answers      |
 * |                        |                                               | TIMEOUT, cancels the statement: answered-running    |
 * | answered-running       | as running; the deadline stays linked when    | the connection: conn_query_done or conn_lost frees  |
 * | (timed out, abandoned) | abandoned before it fired (it still bounds    | it; the callback never runs again (answered)        |
 * |                        | the statement: on_deadline cancels it)        |                                                     |
 * | failing                | deadline on thread->immediate (cb            | the timer: on_deferred_answer answers and frees;    |
 * |                        | on_deferred_answer); not in a queue           | booka_db_query_abandon frees it                     |
 *
 * db_query_free is the only free, and it unlinks the deadline and the queue link itself: whoever ends a query never has
 * to know which of them is still linked (a query freed while linked on its deadline once crashed the process). The
 * callback runs at most once (query_callback sets `answered`), never from inside booka_db_submit. */
struct booka_db_query {
    h2o_linklist_t link;          /* in pool->waiting */
    h2o_timeout_entry_t deadline; /* on thread->query_timeout; on thread->immediate once a failure is to be reported */
    struct db_thread *thread;
    struct pool *pool;
    struct conn *conn; /* running on */
    booka_db_query_cb cb;
    void *data;
    booka_trace_t *trace; /* gets the time from submit to answer, just before the callback; NULL when untraced */
    char request_id[BOOKA_REQUEST_ID_MAX + 1]; /* the request it serves, for the log ("" when none) */
    uint64_t submitted_at, queued_at, sent_at; /* booka_clock_us */
    int flags, retried, answered, got_result;
    booka_db_status_t failure;
    uint64_t min_generation; /* a retry runs only on a connection that came up after the failure */
    char sqlstate[6];
    size_t num_statements;
    struct {
        const char *sql;
        uint64_t hash;
        size_t num_params;
        const char *values[BOOKA_DB_MAX_PARAMS];
    } statements[BOOKA_DB_MAX_STATEMENTS];
    PGresult *results[BOOKA_DB_MAX_STATEMENTS];
};

extern const char *const db_target_names[NUM_TARGETS];

/* ---- pool.c: per-thread pools ---- */

/* db_thread_get: ctx's pools, created (and connecting) on first use; NULL when no database is configured. */
struct db_thread *db_thread_get(h2o_context_t *ctx);
/* db_pool_is_down: no live connection and the last attempt failed: queries are refused at once. */
int db_pool_is_down(struct pool *pool);
/* db_pool_for: where a query goes: the replica for read-only queries while it is set up, not down and readable (replica.c),
 * else the primary (always for BOOKA_DB_PRIMARY); DB_REPLICA_ONLY queries (the replica monitor's probes) to the replica. */
struct pool *db_pool_for(struct db_thread *t, booka_db_query_t *q);

/* ---- conn.c: connections and reconnects ---- */

/* db_conn_set_state: every change of a connection's state goes through here, so the per-state gauges stay exact. */
void db_conn_set_state(struct conn *conn, enum conn_state state);
/* db_conn_start: one connection attempt, bounded by connect-timeout; its end comes through the loop (or at once, when
 * the attempt cannot even start). */
void db_conn_start(struct conn *conn);
/* db_conn_validate: whether an idle connection is still usable (polls its socket, without a round trip, after a while). */
int db_conn_validate(struct conn *conn);
/* db_conn_release: the connection has no query; it becomes idle once a cancel sent to it has landed. */
void db_conn_release(struct conn *conn);
/* db_conn_lost: a connection that was up failed: its query is retried or failed, the connection replaced. */
void db_conn_lost(struct conn *conn, const char *why);
/* db_on_reconnect_tick: the thread's tick, which starts the connections whose backoff is over. */
void db_on_reconnect_tick(h2o_timeout_entry_t *entry);
/* db_on_conn_write: the connection's socket is writable (connecting, or flushing a pipeline). */
void db_on_conn_write(h2o_socket_t *sock, const char *err);

/* ---- pipeline.c: one query on a connection, and the prepared statements ---- */

/* db_conn_send: sends `q` (taken off its queue) on the idle `conn` as one pipeline; the connection becomes busy. */
void db_conn_send(struct conn *conn, booka_db_query_t *q);
/* db_conn_flush: writes what libpq buffered, asking for writability while some remains. */
void db_conn_flush(struct conn *conn);
/* db_conn_read_results: consumes what arrived; at the pipeline's Sync the query is answered and the connection released. */
void db_conn_read_results(struct conn *conn);
/* db_conn_forget_prepared: the connection's statements are gone (a new session, or the server dropped them). */
void db_conn_forget_prepared(struct conn *conn);

/* ---- queue.c: queries, the wait queue, deadlines ---- */

void db_query_free(booka_db_query_t *q);
/* db_query_answer: answers the query (unless it already was) and frees it unless it is still on a connection. */
void db_query_answer(booka_db_query_t *q, booka_db_status_t status);
/* db_query_fail_later: reports `status` from the next loop iteration, so no callback ever runs inside booka_db_submit. */
void db_query_fail_later(booka_db_query_t *q, booka_db_status_t status);
/* db_query_retry: a read-only query that got no result yet goes back to the front of a queue, once; returns whether. */
int db_query_retry(booka_db_query_t *q, uint64_t min_generation);
/* db_pool_dispatch: sends waiting queries to idle connections while both exist. */
void db_pool_dispatch(struct pool *pool);
/* db_pool_fail_waiting: the pool is down: its waiting queries move to the primary or fail. */
void db_pool_fail_waiting(struct pool *pool);
/* db_on_cancel_replies: a cancel request was delivered; the connection is reused when its pipeline has ended too. */
void db_on_cancel_replies(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* ---- metrics.c ---- */

/* db_metrics_register: makes a new pool visible to /metrics (pools are never freed). */
void db_metrics_register(struct pool *pool);
/* db_metrics_sent: a query left the queue for a connection (queue-wait histogram). */
void db_metrics_sent(struct pool *pool, const booka_db_query_t *q);
/* db_metrics_done: a query's pipeline ended (query-duration histogram). */
void db_metrics_done(struct pool *pool, const booka_db_query_t *q);

#endif
