/* listen.c: the LISTEN connection (see listen.h). Its states: DOWN (waiting for the backoff), OPENING (the link
 * connects), LISTENING (LISTEN sent), SETTING_UP (the set-up query sent), UP (notifications delivered). */
#include <stdlib.h>
#include "db/link.h"
#include "db/listen.h"
#include "http/http.h"

#define TICK_MS 20 /* granularity of the reconnect backoff */

enum listen_state { LISTEN_DOWN, LISTEN_OPENING, LISTEN_LISTENING, LISTEN_SETTING_UP, LISTEN_UP };

struct booka_db_listener {
    db_link_t link;
    enum listen_state state;
    char *channel, *setup_sql;
    const booka_db_listen_callbacks_t *cb;
    void *data;
    h2o_timeout_t connect_timeout, tick;
    h2o_timeout_entry_t tick_entry;
    uint64_t retry_at;
    unsigned failures;  /* attempts failed in a row, for the backoff */
    int reported_down;  /* the outage is logged once, and its end */
    int failed_command; /* the current command returned an error */
    PGresult *setup;    /* the set-up query's result, until on_up */
};

static void listener_open(booka_db_listener_t *l);

/* listener_target: prepared by the configurator (prepare_listen) unless there is none: no database, or pgBouncer in
 * transaction mode without `listen-url` (it cannot hold a LISTEN: the server connection that ran it goes back to the pool,
 * and the notifications with it). */
static db_target_t *listener_target(void)
{
    return db_settings.listen.keywords != NULL ? &db_settings.listen : NULL;
}

/* listener_down: drops the connection (or the failed attempt) and schedules the next attempt after the backoff. */
static void listener_down(booka_db_listener_t *l, const char *why)
{
    int was_up = l->state == LISTEN_UP;

    if (!l->reported_down) /* before the close: `why` may be libpq's message */
        booka_log(NULL, "db", "LISTEN connection down (%s); reconnecting with backoff",
                  why != NULL && why[0] != '\0' ? why : "unknown error");
    l->reported_down = 1;
    db_link_close(&l->link);
    if (l->setup != NULL) {
        PQclear(l->setup);
        l->setup = NULL;
    }
    l->state = LISTEN_DOWN;
    l->retry_at = h2o_now(l->link.ctx->loop) + db_link_backoff(++l->failures);
    if (!h2o_timeout_is_linked(&l->tick_entry))
        h2o_timeout_link(l->link.ctx->loop, &l->tick, &l->tick_entry);
    if (was_up)
        l->cb->on_down(l->data);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    booka_db_listener_t *l = H2O_STRUCT_FROM_MEMBER(booka_db_listener_t, tick_entry, entry);

    if (l->state != LISTEN_DOWN)
        return;
    if (h2o_now(l->link.ctx->loop) < l->retry_at)
        h2o_timeout_link(l->link.ctx->loop, &l->tick, &l->tick_entry);
    else
        listener_open(l);
}

static void on_listener_write(h2o_socket_t *sock, const char *err);

/* listener_flush: writes what libpq buffered, asking for writability while some remains. */
static void listener_flush(booka_db_listener_t *l)
{
    int ret = PQflush(l->link.pg);

    if (ret < 0)
        listener_down(l, PQerrorMessage(l->link.pg));
    else if (ret > 0)
        db_link_want_write(&l->link, on_listener_write);
}

static void on_listener_write(h2o_socket_t *sock, const char *err)
{
    booka_db_listener_t *l = H2O_STRUCT_FROM_MEMBER(booka_db_listener_t, link, sock->data);
    if (l->state != LISTEN_DOWN)
        listener_flush(l);
}

/* listener_send: sends one command (the connection is idle between them); `next` is the state that awaits its end. */
static void listener_send(booka_db_listener_t *l, const char *sql, enum listen_state next)
{
    if (!PQsendQuery(l->link.pg, sql)) {
        listener_down(l, PQerrorMessage(l->link.pg));
        return;
    }
    l->state = next;
    l->failed_command = 0;
    listener_flush(l);
}

static void listener_up(booka_db_listener_t *l)
{
    PGresult *setup = l->setup;

    l->setup = NULL;
    l->state = LISTEN_UP;
    l->failures = 0;
    if (l->reported_down) {
        booka_log(NULL, "db", "LISTEN connection up");
        l->reported_down = 0;
    }
    l->cb->on_up(l->data, setup);
    PQclear(setup);
}

/* listener_command_done: the current command's results have all arrived: the next step. */
static void listener_command_done(booka_db_listener_t *l)
{
    if (l->state == LISTEN_LISTENING) {
        if (l->failed_command)
            listener_down(l, "LISTEN failed");
        else if (l->setup_sql != NULL)
            listener_send(l, l->setup_sql, LISTEN_SETTING_UP);
        else
            listener_up(l);
    } else if (l->state == LISTEN_SETTING_UP) {
        listener_up(l);
    }
}

/* listener_result: one result of the current command; an error is logged, the set-up query's first rows kept. */
static void listener_result(booka_db_listener_t *l, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        l->failed_command = 1;
        booka_log(NULL, "db", "LISTEN connection: %s failed: %s", l->state == LISTEN_LISTENING ? "LISTEN" : "set-up query",
                  PQresultErrorMessage(res));
    } else if (l->state == LISTEN_SETTING_UP && l->setup == NULL && st == PGRES_TUPLES_OK) {
        l->setup = res;
        return;
    }
    PQclear(res);
}

/* listener_drain: reads what arrived: the commands' results, then (once up) the notifications libpq queued meanwhile. */
static void listener_drain(booka_db_listener_t *l)
{
    PGresult *res;
    PGnotify *note;

    if (!PQconsumeInput(l->link.pg)) {
        listener_down(l, PQerrorMessage(l->link.pg));
        return;
    }
    while (l->state != LISTEN_UP && !PQisBusy(l->link.pg)) {
        if ((res = PQgetResult(l->link.pg)) != NULL) {
            listener_result(l, res);
            continue;
        }
        listener_command_done(l);
        if (l->state != LISTEN_UP)
            return; /* down, or the next command is on its way */
    }
    while (l->state == LISTEN_UP && (note = PQnotifies(l->link.pg)) != NULL) {
        l->cb->on_notify(l->data, note->extra);
        PQfreemem(note);
    }
    if (l->state == LISTEN_UP && PQstatus(l->link.pg) != CONNECTION_OK)
        listener_down(l, PQerrorMessage(l->link.pg));
}

static void on_listener_read(h2o_socket_t *sock, const char *err)
{
    booka_db_listener_t *l = H2O_STRUCT_FROM_MEMBER(booka_db_listener_t, link, sock->data);
    listener_drain(l);
}

static void on_listener_notice(void *arg, const char *message)
{
    booka_log(NULL, "db", "LISTEN connection: %s", message);
}

static void on_listener_open(db_link_t *link, const char *err)
{
    booka_db_listener_t *l = H2O_STRUCT_FROM_MEMBER(booka_db_listener_t, link, link);
    char *quoted;
    h2o_iovec_t sql;

    if (err != NULL) {
        listener_down(l, err);
        return;
    }
    PQsetNoticeProcessor(l->link.pg, on_listener_notice, l);
    if ((quoted = PQescapeIdentifier(l->link.pg, l->channel, strlen(l->channel))) == NULL) {
        listener_down(l, PQerrorMessage(l->link.pg));
        return;
    }
    sql = h2o_concat(NULL, h2o_iovec_init(H2O_STRLIT("LISTEN ")), h2o_iovec_init(quoted, strlen(quoted)));
    PQfreemem(quoted);
    h2o_socket_read_start(l->link.sock, on_listener_read);
    listener_send(l, sql.base, LISTEN_LISTENING);
    free(sql.base);
}

static void listener_open(booka_db_listener_t *l)
{
    l->state = LISTEN_OPENING;
    db_link_open(&l->link);
}

booka_db_listener_t *booka_db_listen(h2o_context_t *ctx, const char *channel, const char *setup_sql,
                                     const booka_db_listen_callbacks_t *callbacks, void *data)
{
    db_target_t *target = listener_target();
    booka_db_listener_t *l;

    if (target == NULL)
        return NULL;
    l = h2o_mem_alloc(sizeof(*l));
    *l = (booka_db_listener_t){.channel = h2o_strdup(NULL, channel, SIZE_MAX).base,
                               .setup_sql = setup_sql != NULL ? h2o_strdup(NULL, setup_sql, SIZE_MAX).base : NULL,
                               .cb = callbacks,
                               .data = data};
    h2o_timeout_init(ctx->loop, &l->connect_timeout, db_settings.connect_timeout);
    h2o_timeout_init(ctx->loop, &l->tick, TICK_MS);
    l->tick_entry.cb = on_tick;
    l->link = (db_link_t){.ctx = ctx, .target = target, .timeout = &l->connect_timeout, .on_open = on_listener_open};
    listener_open(l);
    return l;
}
