/* conn.c: a pool's connections: opening them (a db_link_t each: link.c), watching them while idle, reconnecting with
 * jittered exponential backoff, and replacing one that is lost. */
#include <poll.h>
#include <stdlib.h>
#include "db/pool.h"
#include "http/http.h"

#define VALIDATE_AFTER_IDLE 1000 /* ms idle after which a connection is checked before use */

static void on_conn_read(h2o_socket_t *sock, const char *err);

/* db_conn_set_state: every change of a connection's state goes through here, so the per-state gauges stay exact. */
void db_conn_set_state(struct conn *conn, enum conn_state state)
{
    --conn->pool->num_in_state[conn->state];
    ++conn->pool->num_in_state[state];
    conn->state = state;
}

/* conn_close: releases everything the connection holds; it becomes CONN_DOWN (its running query is the caller's). */
static void conn_close(struct conn *conn)
{
    struct pool *pool = conn->pool;

    db_link_close(&conn->link);
    if (h2o_timeout_is_linked(&conn->timer))
        h2o_timeout_unlink(&conn->timer);
    if (h2o_linklist_is_linked(&conn->idle_link))
        h2o_linklist_unlink(&conn->idle_link);
    if (conn->state == CONN_IDLE || conn->state == CONN_BUSY || conn->state == CONN_CANCELLING)
        --pool->live;
    db_conn_forget_prepared(conn);
    conn->next_name = 0; /* the next session starts without statements */
    conn->cancel_pending = 0;
    ++conn->serial;
    db_conn_set_state(conn, CONN_DOWN);
}

void db_on_reconnect_tick(h2o_timeout_entry_t *entry)
{
    struct db_thread *t = H2O_STRUCT_FROM_MEMBER(struct db_thread, tick_entry, entry);
    uint64_t now = h2o_now(t->loop);
    int pending = 0;
    struct pool *pools[] = {&t->primary, t->has_replica ? &t->replica : NULL};

    for (size_t p = 0; p != 2 && pools[p] != NULL; ++p) {
        for (size_t i = 0; i != db_settings.pool_size; ++i) {
            struct conn *conn = pools[p]->conns + i;
            if (conn->state != CONN_DOWN)
                continue;
            if (conn->next_attempt_at <= now)
                db_conn_start(conn);
            else
                pending = 1;
        }
    }
    if (pending && !h2o_timeout_is_linked(&t->tick_entry))
        h2o_timeout_link(t->loop, &t->tick, &t->tick_entry);
}

static void conn_schedule_reconnect(struct conn *conn, uint64_t delay)
{
    struct db_thread *t = conn->pool->thread;
    conn->next_attempt_at = h2o_now(t->loop) + delay;
    if (!h2o_timeout_is_linked(&t->tick_entry))
        h2o_timeout_link(t->loop, &t->tick, &t->tick_entry);
}

/* conn_connect_failed: one attempt failed: back off (with jitter), and when no attempt is left in progress and nothing
 * is connected, the pool is down: its waiting queries are answered now rather than at their deadline. */
static void conn_connect_failed(struct conn *conn, const char *why)
{
    struct pool *pool = conn->pool;
    uint64_t delay;

    if (pool->consecutive_failures++ == 0) /* logged before conn_close: `why` may be libpq's message */
        booka_log(NULL, "db", "%s: cannot connect: %s", pool->name, why);
    conn_close(conn);
    ++pool->stats.failures;
    delay = db_link_backoff(pool->consecutive_failures);
    conn_schedule_reconnect(conn, delay);
    if (pool->live != 0)
        return;
    if (pool->down_until < conn->next_attempt_at)
        pool->down_until = conn->next_attempt_at;
    for (size_t i = 0; i != db_settings.pool_size; ++i)
        if (pool->conns[i].state == CONN_CONNECTING)
            return;
    db_pool_fail_waiting(pool);
}

static void on_notice(void *arg, const char *message)
{
    struct conn *conn = arg;
    booka_log(NULL, "db", "%s: %s", conn->pool->name, message);
}

/* on_conn_open: the attempt ended: on success, non-blocking pipeline mode, then the connection joins the idle list. */
static void on_conn_open(db_link_t *link, const char *err)
{
    struct conn *conn = H2O_STRUCT_FROM_MEMBER(struct conn, link, link);
    struct pool *pool = conn->pool;

    if (err != NULL) {
        conn_connect_failed(conn, err);
        return;
    }
    if (!PQenterPipelineMode(conn->link.pg)) {
        conn_connect_failed(conn, PQerrorMessage(conn->link.pg));
        return;
    }
    PQsetNoticeProcessor(conn->link.pg, on_notice, conn);
    if (pool->consecutive_failures != 0)
        booka_log(NULL, "db", "%s: connected again after %u failed attempts", pool->name, pool->consecutive_failures);
    pool->consecutive_failures = 0;
    pool->down_until = 0;
    db_conn_set_state(conn, CONN_IDLE);
    conn->idle_since = h2o_now(pool->thread->loop);
    conn->born = pool->generation;
    ++pool->live;
    h2o_linklist_insert(pool->idle.next, &conn->idle_link);
    h2o_socket_read_start(conn->link.sock, on_conn_read);
    db_pool_dispatch(pool);
}

/* db_conn_start: one connection attempt, bounded by connect-timeout. */
void db_conn_start(struct conn *conn)
{
    struct pool *pool = conn->pool;

    db_conn_set_state(conn, CONN_CONNECTING);
    conn->link.ctx = pool->thread->ctx;
    conn->link.target = pool->target;
    conn->link.timeout = &pool->connect_timeout;
    conn->link.on_open = on_conn_open;
    db_link_open(&conn->link);
}

/* db_conn_validate: a connection idle for a while is checked before use, without a round trip: whatever the server sent
 * meanwhile (an ErrorResponse and EOF from pg_terminate_backend, idle_session_timeout, a shutdown) is read now, even when
 * the loop has not reported it yet. A connection in steady use is not polled (the loop watches it, and a failure before
 * any result is retried anyway). Returns whether the connection is usable. */
int db_conn_validate(struct conn *conn)
{
    struct pollfd p = {.fd = PQsocket(conn->link.pg), .events = POLLIN};

    if (h2o_now(conn->pool->thread->loop) - conn->idle_since < VALIDATE_AFTER_IDLE)
        return PQstatus(conn->link.pg) == CONNECTION_OK;
    if (poll(&p, 1, 0) == 1 && !PQconsumeInput(conn->link.pg))
        return 0;
    return PQstatus(conn->link.pg) == CONNECTION_OK;
}

/* db_conn_release: the connection has no query; it is reused once a cancel sent to it has landed. */
void db_conn_release(struct conn *conn)
{
    if (conn->cancel_pending) {
        db_conn_set_state(conn, CONN_CANCELLING); /* the cancel grace timer is still linked */
        return;
    }
    if (h2o_timeout_is_linked(&conn->timer))
        h2o_timeout_unlink(&conn->timer);
    db_conn_set_state(conn, CONN_IDLE);
    conn->idle_since = h2o_now(conn->pool->thread->loop);
    h2o_linklist_insert(conn->pool->idle.next, &conn->idle_link);
}

static void on_conn_read(h2o_socket_t *sock, const char *err)
{
    struct conn *conn = H2O_STRUCT_FROM_MEMBER(struct conn, link, sock->data);

    switch (conn->state) {
    case CONN_IDLE:
        /* the server spoke while nothing ran: most likely a termination (pg_terminate_backend, idle_session_timeout,
         * shutdown) and EOF; replace the connection now rather than when a request needs it */
        if (!PQconsumeInput(conn->link.pg) || PQstatus(conn->link.pg) != CONNECTION_OK) {
            db_conn_lost(conn, PQerrorMessage(conn->link.pg));
        } else {
            PGnotify *n;
            while ((n = PQnotifies(conn->link.pg)) != NULL)
                PQfreemem(n);
        }
        break;
    case CONN_BUSY:
    case CONN_CANCELLING:
        db_conn_read_results(conn);
        break;
    default:
        break;
    }
}

void db_on_conn_write(h2o_socket_t *sock, const char *err)
{
    struct conn *conn = H2O_STRUCT_FROM_MEMBER(struct conn, link, sock->data);

    switch (conn->state) {
    case CONN_BUSY:
    case CONN_CANCELLING:
        if (conn->query != NULL)
            db_conn_flush(conn);
        break;
    default:
        break;
    }
}

/* db_conn_lost: a connection that was up failed. Its query is retried on a fresh connection when that is safe (read-only,
 * no result yet), else answered UNAVAILABLE; the connection is replaced at once, since usually only it is gone. */
void db_conn_lost(struct conn *conn, const char *why)
{
    struct pool *pool = conn->pool, *retry_pool = NULL;
    booka_db_query_t *q = conn->query;

    booka_log_id(q != NULL ? q->request_id : NULL, "db", "%s: connection lost%s: %s", pool->name,
                 q != NULL ? " while running a query" : "", why != NULL && why[0] != '\0' ? why : "unknown error");
    conn->query = NULL;
    conn_close(conn);
    ++pool->generation;
    if (q != NULL) {
        q->conn = NULL;
        for (size_t i = 0; !q->got_result && i != q->num_statements; ++i)
            if (q->results[i] != NULL) {
                PQclear(q->results[i]);
                q->results[i] = NULL;
            }
        if (q->answered)
            db_query_free(q);
        else if (db_query_retry(q, pool->generation))
            retry_pool = q->pool;
        else
            db_query_fail_later(q, BOOKA_DB_UNAVAILABLE);
    }
    db_conn_start(conn);
    if (retry_pool != NULL && retry_pool != pool)
        db_pool_dispatch(retry_pool);
}
