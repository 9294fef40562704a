/* pipeline.c: one query on a connection, as one pipeline: Prepare (when the SQL is new on the connection) and Execute per
 * statement, then Sync; the results read back as the socket becomes readable; the per-connection cache of named
 * (prepared) statements. */
#include <inttypes.h>
#include <stdlib.h>
#include "db/pool.h"
#include "http/http.h"

#define PREPARED_MAX 256 /* named statements per connection; further SQL shapes run unnamed */

void db_conn_flush(struct conn *conn)
{
    int ret = PQflush(conn->link.pg);
    if (ret < 0)
        db_conn_lost(conn, PQerrorMessage(conn->link.pg));
    else if (ret > 0)
        db_link_want_write(&conn->link, db_on_conn_write);
}

/* conn_prepared_index: the index of the named statement holding `sql` on this connection, adding it under a new name
 * (*is_new set) when there is room; -1 when the cache is full. */
static ssize_t conn_prepared_index(struct conn *conn, const char *sql, uint64_t hash, int *is_new)
{
    *is_new = 0;
    for (size_t i = 0; i != conn->num_prepared; ++i)
        if (conn->prepared[i].hash == hash && strcmp(conn->prepared[i].sql, sql) == 0)
            return i;
    if (conn->num_prepared == PREPARED_MAX)
        return -1;
    if (conn->prepared == NULL)
        conn->prepared = h2o_mem_alloc(PREPARED_MAX * sizeof(*conn->prepared));
    conn->prepared[conn->num_prepared] = (struct prepared){hash, h2o_strdup(NULL, sql, SIZE_MAX).base, conn->next_name++};
    *is_new = 1;
    return conn->num_prepared++;
}

/* conn_unprepare: forgets a statement whose Prepare failed or never ran (an earlier command of its pipeline failed, e.g.
 * a Prepare cancelled while it waited for a lock), so its next use prepares it again, under a new name. */
static void conn_unprepare(struct conn *conn, const char *sql)
{
    for (size_t i = 0; i != conn->num_prepared; ++i) {
        if (strcmp(conn->prepared[i].sql, sql) == 0) {
            free(conn->prepared[i].sql);
            conn->prepared[i] = conn->prepared[--conn->num_prepared];
            return;
        }
    }
}

/* conn_unprepare_current: conn_unprepare for the command whose result just arrived, when it is a Prepare. */
static void conn_unprepare_current(struct conn *conn)
{
    if (conn->command_index < conn->num_commands && conn->commands[conn->command_index].kind == CMD_PREPARE)
        conn_unprepare(conn, conn->query->statements[conn->commands[conn->command_index].statement].sql);
}

void db_conn_forget_prepared(struct conn *conn)
{
    for (size_t i = 0; i != conn->num_prepared; ++i)
        free(conn->prepared[i].sql);
    free(conn->prepared);
    conn->prepared = NULL;
    conn->num_prepared = 0;
}

/* db_conn_send: sends `q` as one pipeline: for each statement Prepare (when new here) and Execute, then Sync. Without
 * pgBouncer, statements are named per connection so Postgres parses and plans each SQL shape once; with it, every
 * statement is unnamed (PQsendQueryParams), which transaction pooling supports. */
void db_conn_send(struct conn *conn, booka_db_query_t *q)
{
    struct pool *pool = conn->pool;
    char name[32];

    h2o_linklist_unlink(&q->link);
    --pool->num_waiting;
    h2o_linklist_unlink(&conn->idle_link);
    db_conn_set_state(conn, CONN_BUSY);
    conn->query = q;
    conn->num_commands = 0;
    conn->command_index = 0;
    q->conn = conn;
    q->pool = pool;
    q->sent_at = booka_clock_us();
    db_metrics_sent(pool, q);
    ++pool->stats.queries;
    for (size_t i = 0; i != q->num_statements; ++i) {
        const char *sql = q->statements[i].sql;
        int n = (int)q->statements[i].num_params, is_new;
        ssize_t index = db_settings.pgbouncer ? -1 : conn_prepared_index(conn, sql, q->statements[i].hash, &is_new);
        if (index >= 0) {
            snprintf(name, sizeof(name), "booka_%" PRIu64, conn->prepared[index].name);
            if (is_new) {
                if (!PQsendPrepare(conn->link.pg, name, sql, n, NULL))
                    goto Lost;
                conn->commands[conn->num_commands++] = (typeof(conn->commands[0])){CMD_PREPARE, i};
            }
            if (!PQsendQueryPrepared(conn->link.pg, name, n, q->statements[i].values, NULL, NULL, 0))
                goto Lost;
        } else if (!PQsendQueryParams(conn->link.pg, sql, n, NULL, q->statements[i].values, NULL, NULL, 0)) {
            goto Lost;
        }
        conn->commands[conn->num_commands++] = (typeof(conn->commands[0])){CMD_EXECUTE, i};
    }
    if (!PQpipelineSync(conn->link.pg))
        goto Lost;
    db_conn_flush(conn);
    return;
Lost:
    db_conn_lost(conn, PQerrorMessage(conn->link.pg));
}

static int sqlstate_is(const booka_db_query_t *q, const char *prefix)
{
    return strncmp(q->sqlstate, prefix, strlen(prefix)) == 0;
}

/* conn_query_done: the pipeline's Sync arrived: the query is answered (or retried) and the connection released. */
static void conn_query_done(struct conn *conn)
{
    struct pool *pool = conn->pool;
    booka_db_query_t *q = conn->query;
    booka_db_status_t status = BOOKA_DB_OK;
    struct pool *retry_pool = NULL;

    db_metrics_done(pool, q);
    conn->query = NULL;
    q->conn = NULL;
    db_conn_release(conn);
    if (q->sqlstate[0] != '\0') {
        for (size_t i = 0; i != q->num_statements; ++i)
            if (q->results[i] != NULL) {
                PQclear(q->results[i]);
                q->results[i] = NULL;
            }
        q->got_result = 0;
        if (sqlstate_is(q, "57014")) {
            status = BOOKA_DB_TIMEOUT; /* statement_timeout, or our cancel */
        } else if (sqlstate_is(q, "26000") || sqlstate_is(q, "0A000")) {
            /* a prepared statement vanished (DISCARD ALL, a pooler switching servers) or its plan no longer fits the
             * schema: forget this connection's statements and run the query again */
            db_conn_forget_prepared(conn);
            status = BOOKA_DB_QUERY_ERROR;
            if (db_query_retry(q, 0))
                retry_pool = q->pool;
        } else if (sqlstate_is(q, "08") || sqlstate_is(q, "57P")) {
            status = BOOKA_DB_UNAVAILABLE;
            if (db_query_retry(q, pool->generation))
                retry_pool = q->pool;
        } else {
            status = BOOKA_DB_QUERY_ERROR;
        }
    }
    if (retry_pool == NULL)
        db_query_answer(q, status);
    db_pool_dispatch(pool);
    if (retry_pool != NULL && retry_pool != pool)
        db_pool_dispatch(retry_pool);
}

/* conn_record_error: the first error of the pipeline is the query's; a failed Prepare is forgotten. */
static void conn_record_error(struct conn *conn, const PGresult *res)
{
    booka_db_query_t *q = conn->query;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    conn_unprepare_current(conn);
    if (q->sqlstate[0] != '\0')
        return;
    snprintf(q->sqlstate, sizeof(q->sqlstate), "%s", state != NULL ? state : "XX000");
    if (!sqlstate_is(q, "57014") && !sqlstate_is(q, "08") && !sqlstate_is(q, "57P"))
        booka_log_id(q->request_id, "db", "%s: query failed (%s): %s", conn->pool->name, q->sqlstate, PQresultErrorMessage(res));
}

/* db_conn_read_results: consumes what arrived; results are collected per Execute until the Sync. */
void db_conn_read_results(struct conn *conn)
{
    if (!PQconsumeInput(conn->link.pg)) {
        db_conn_lost(conn, PQerrorMessage(conn->link.pg));
        return;
    }
    while (conn->query != NULL && !PQisBusy(conn->link.pg)) {
        booka_db_query_t *q = conn->query;
        PGresult *res = PQgetResult(conn->link.pg);
        if (res == NULL) { /* end of one command's results */
            if (conn->command_index == conn->num_commands)
                break;
            ++conn->command_index;
            continue;
        }
        switch (PQresultStatus(res)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(res);
            conn_query_done(conn);
            return;
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
            if (conn->command_index < conn->num_commands && conn->commands[conn->command_index].kind == CMD_EXECUTE) {
                size_t i = conn->commands[conn->command_index].statement;
                if (q->results[i] == NULL) {
                    q->results[i] = res;
                    q->got_result = 1;
                    res = NULL;
                }
            }
            break;
        case PGRES_PIPELINE_ABORTED:
            conn_unprepare_current(conn); /* a Prepare skipped after an earlier error never ran */
            break;
        default:
            conn_record_error(conn, res);
            break;
        }
        if (res != NULL)
            PQclear(res);
    }
    if (PQstatus(conn->link.pg) == CONNECTION_BAD)
        db_conn_lost(conn, PQerrorMessage(conn->link.pg));
}
