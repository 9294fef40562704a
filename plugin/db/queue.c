/* queue.c: queries: their creation and end, the per-pool wait queue and its dispatch onto idle connections, retries, and
 * the deadline (with the cancel of a statement that outlives it). Who owns a query in each state: pool.h. */
#include <stdlib.h>
#include "db/pool.h"
#include "http/http.h"

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s != '\0'; ++s)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

booka_db_query_t *booka_db_query_new(const booka_db_statement_t *statements, size_t num_statements, int flags, booka_db_query_cb cb,
                                     void *data)
{
    size_t size = sizeof(booka_db_query_t);
    booka_db_query_t *q;
    char *p;

    if (num_statements == 0 || num_statements > BOOKA_DB_MAX_STATEMENTS)
        h2o_fatal("booka_db_query_new: 0 or too many statements");
    for (size_t i = 0; i != num_statements; ++i) {
        if (statements[i].num_params > BOOKA_DB_MAX_PARAMS)
            h2o_fatal("booka_db_query_new: too many parameters");
        size += strlen(statements[i].sql) + 1;
        for (size_t j = 0; j != statements[i].num_params; ++j)
            if (statements[i].values[j] != NULL)
                size += strlen(statements[i].values[j]) + 1;
    }
    q = h2o_mem_alloc(size); /* the statements are ours and the values bounded by the request: aborts when out of memory */
    memset(q, 0, size);
    p = (char *)(q + 1);
    q->cb = cb;
    q->data = data;
    q->flags = flags;
    q->num_statements = num_statements;
    for (size_t i = 0; i != num_statements; ++i) {
        size_t len = strlen(statements[i].sql) + 1;
        q->statements[i].sql = memcpy(p, statements[i].sql, len);
        q->statements[i].hash = fnv1a(statements[i].sql);
        p += len;
        q->statements[i].num_params = statements[i].num_params;
        for (size_t j = 0; j != statements[i].num_params; ++j) {
            if (statements[i].values[j] == NULL)
                continue;
            len = strlen(statements[i].values[j]) + 1;
            q->statements[i].values[j] = memcpy(p, statements[i].values[j], len);
            p += len;
        }
    }
    return q;
}

/* db_query_free: the one way a query ends. Whoever frees it may find it still linked on its deadline timer (an abandoned query
 * keeps its deadline while it runs, to bound it) or in a queue, so both are unlinked here, never left to the caller: a
 * query freed while linked would have its deadline run on freed memory (a lost connection did that to an abandoned query). */
void db_query_free(booka_db_query_t *q)
{
    if (h2o_timeout_is_linked(&q->deadline))
        h2o_timeout_unlink(&q->deadline);
    if (h2o_linklist_is_linked(&q->link)) {
        h2o_linklist_unlink(&q->link);
        --q->pool->num_waiting;
    }
    for (size_t i = 0; i != q->num_statements; ++i)
        if (q->results[i] != NULL)
            PQclear(q->results[i]);
    free(q);
}

void booka_db_query_trace(booka_db_query_t *q, booka_trace_t *trace)
{
    q->trace = trace;
    memcpy(q->request_id, trace->request_id, sizeof(q->request_id));
}

/* query_callback: the one place a callback runs, once: the trace gets the time since submit first. */
static void query_callback(booka_db_query_t *q, booka_db_status_t status, size_t num_results)
{
    if (q->answered)
        return;
    q->answered = 1;
    if (q->trace != NULL)
        q->trace->db_us += booka_clock_us() - q->submitted_at;
    q->cb(q->data, status, q->results, num_results);
}

/* db_query_answer: answers the query (unless it already was) and frees it unless it is still on a connection. */
void db_query_answer(booka_db_query_t *q, booka_db_status_t status)
{
    if (h2o_timeout_is_linked(&q->deadline))
        h2o_timeout_unlink(&q->deadline);
    query_callback(q, status, q->num_statements);
    if (q->conn == NULL)
        db_query_free(q);
}

static void on_deferred_answer(h2o_timeout_entry_t *entry)
{
    booka_db_query_t *q = H2O_STRUCT_FROM_MEMBER(booka_db_query_t, deadline, entry);
    db_query_answer(q, q->failure);
}

/* db_query_fail_later: reports `status` from the next loop iteration, so no callback ever runs inside booka_db_submit. */
void db_query_fail_later(booka_db_query_t *q, booka_db_status_t status)
{
    if (h2o_linklist_is_linked(&q->link)) {
        h2o_linklist_unlink(&q->link);
        --q->pool->num_waiting;
    }
    if (h2o_timeout_is_linked(&q->deadline))
        h2o_timeout_unlink(&q->deadline);
    if (q->answered) {
        if (q->conn == NULL)
            db_query_free(q);
        return;
    }
    ++q->pool->stats.failures;
    q->failure = status;
    q->deadline.cb = on_deferred_answer;
    h2o_timeout_link(q->thread->loop, &q->thread->immediate, &q->deadline);
}

static void pool_enqueue(struct pool *pool, booka_db_query_t *q, int at_front)
{
    q->pool = pool;
    q->queued_at = booka_clock_us();
    h2o_linklist_insert(at_front ? pool->waiting.next : &pool->waiting, &q->link);
    ++pool->num_waiting;
}

/* db_pool_fail_waiting: the pool is down: its waiting read-only queries move to the primary when that is up, the others
 * fail with UNAVAILABLE. */
void db_pool_fail_waiting(struct pool *pool)
{
    struct pool *primary = &pool->thread->primary;

    while (!h2o_linklist_is_empty(&pool->waiting)) {
        booka_db_query_t *q = H2O_STRUCT_FROM_MEMBER(booka_db_query_t, link, pool->waiting.next);
        h2o_linklist_unlink(&q->link);
        --pool->num_waiting;
        if (pool != primary && (q->flags & BOOKA_DB_READ_ONLY) != 0 && !db_pool_is_down(primary)) {
            q->min_generation = 0;
            pool_enqueue(primary, q, 0);
        } else {
            db_query_fail_later(q, BOOKA_DB_UNAVAILABLE);
        }
    }
    if (pool != primary)
        db_pool_dispatch(primary);
}

void db_pool_dispatch(struct pool *pool)
{
    for (;;) {
        booka_db_query_t *q = NULL;
        struct conn *conn = NULL;
        /* the first waiting query with an eligible idle connection (a retry needs one that came up after its failure) */
        for (h2o_linklist_t *w = pool->waiting.next; conn == NULL && w != &pool->waiting; w = w->next) {
            q = H2O_STRUCT_FROM_MEMBER(booka_db_query_t, link, w);
            for (h2o_linklist_t *c = pool->idle.next; c != &pool->idle; c = c->next) {
                struct conn *candidate = H2O_STRUCT_FROM_MEMBER(struct conn, idle_link, c);
                if (candidate->born >= q->min_generation) {
                    conn = candidate;
                    break;
                }
            }
        }
        if (conn == NULL)
            return;
        if (!db_conn_validate(conn)) {
            db_conn_lost(conn, PQerrorMessage(conn->link.pg));
            continue;
        }
        db_conn_send(conn, q);
    }
}

/* db_query_retry: a read-only query that got no result yet goes back to the front of the queue, once. */
int db_query_retry(booka_db_query_t *q, uint64_t min_generation)
{
    struct pool *pool;

    if ((q->flags & BOOKA_DB_READ_ONLY) == 0 || q->retried || q->got_result || q->answered)
        return 0;
    q->retried = 1;
    q->sqlstate[0] = '\0';
    ++q->pool->stats.retries;
    pool = db_pool_for(q->thread, q);
    q->min_generation = pool == q->pool ? min_generation : 0;
    pool_enqueue(pool, q, 1);
    return 1;
}

static void on_cancel_grace(h2o_timeout_entry_t *entry)
{
    struct conn *conn = H2O_STRUCT_FROM_MEMBER(struct conn, timer, entry);
    db_conn_lost(conn, "a cancelled statement did not stop within cancel-grace; replacing the connection");
}

/* on_deadline: a waiting query is answered TIMEOUT and dropped; a running one is answered TIMEOUT now, and its statement
 * cancelled: the connection is reused once the cancel has landed and the pipeline has ended, or replaced after the
 * cancel grace. */
static void on_deadline(h2o_timeout_entry_t *entry)
{
    booka_db_query_t *q = H2O_STRUCT_FROM_MEMBER(booka_db_query_t, deadline, entry);
    struct conn *conn = q->conn;

    ++q->pool->stats.timeouts;
    if (conn == NULL) {
        h2o_linklist_unlink(&q->link);
        --q->pool->num_waiting;
        db_query_answer(q, BOOKA_DB_TIMEOUT);
        return;
    }
    if (conn->state == CONN_BUSY) {
        db_conn_set_state(conn, CONN_CANCELLING);
        conn->cancel_pending = 1;
        db_cancel_async(conn->link.pg, &q->thread->cancel_replies, conn, conn->serial);
        conn->timer.cb = on_cancel_grace;
        h2o_timeout_link(q->thread->loop, &conn->pool->cancel_grace, &conn->timer);
    }
    query_callback(q, BOOKA_DB_TIMEOUT, 0);
}

booka_db_status_t booka_db_submit(h2o_context_t *ctx, booka_db_query_t *q)
{
    struct db_thread *t = db_thread_get(ctx);
    struct pool *pool;

    if (t == NULL) {
        db_query_free(q);
        return BOOKA_DB_UNAVAILABLE;
    }
    q->thread = t;
    q->submitted_at = booka_clock_us();
    pool = db_pool_for(t, q);
    if (db_pool_is_down(pool)) {
        ++pool->stats.failures;
        db_query_free(q);
        return BOOKA_DB_UNAVAILABLE;
    }
    if (h2o_linklist_is_empty(&pool->idle)) {
        if (pool->num_waiting >= db_settings.queue_limit && (q->flags & DB_PRIORITY) == 0) {
            ++pool->stats.queue_full;
            db_query_free(q);
            return BOOKA_DB_QUEUE_FULL;
        }
        ++pool->stats.waits;
    }
    q->deadline.cb = on_deadline;
    h2o_timeout_link(t->loop, &t->query_timeout, &q->deadline);
    pool_enqueue(pool, q, (q->flags & DB_PRIORITY) != 0);
    db_pool_dispatch(pool);
    return BOOKA_DB_OK;
}

void booka_db_query_abandon(booka_db_query_t *q)
{
    if (q->answered)
        return;
    q->answered = 1;
    if (q->conn != NULL)
        return; /* it ends on its connection (its deadline still bounds it) */
    if (h2o_linklist_is_linked(&q->link)) {
        h2o_linklist_unlink(&q->link);
        --q->pool->num_waiting;
    }
    if (h2o_timeout_is_linked(&q->deadline))
        h2o_timeout_unlink(&q->deadline);
    db_query_free(q);
}

const char *booka_db_status_message(booka_db_status_t status)
{
    switch (status) {
    case BOOKA_DB_OK:
        return "ok";
    case BOOKA_DB_QUEUE_FULL:
        return "the database pool's queue is full (queue-limit)";
    case BOOKA_DB_UNAVAILABLE:
        return "the database is unavailable";
    case BOOKA_DB_TIMEOUT:
        return "the database did not answer within query-timeout";
    case BOOKA_DB_QUERY_ERROR:
        break;
    }
    return "the query failed";
}

void db_on_cancel_replies(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        db_cancel_reply_t *reply = H2O_STRUCT_FROM_MEMBER(db_cancel_reply_t, super.link, messages->next);
        struct conn *conn = reply->conn;
        h2o_linklist_unlink(&reply->super.link);
        if (conn->serial == reply->serial && conn->cancel_pending) {
            conn->cancel_pending = 0;
            if (conn->query == NULL && conn->state == CONN_CANCELLING) {
                db_conn_release(conn);
                db_pool_dispatch(conn->pool);
            }
        }
        free(reply);
    }
}
