/* invalidate.c: the LISTEN connection, on libpq's non-blocking API driven by one h2o loop. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cache/invalidate.h"
#include "http/http.h"

#define CHANNEL "booka_invalidate"
#define RETRY_TICK_MS 100
#define MAX_BACKOFF_MS 5000

_Atomic uint64_t booka_cache_generation;
_Atomic uint64_t booka_cache_epoch;

/* epoch_of: the database's epoch text folded to 64 bits (FNV-1a; it only needs to differ between databases). */
static uint64_t epoch_of(const char *text)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *text != '\0'; ++text)
        h = (h ^ (unsigned char)*text) * 0x100000001b3ULL;
    return h;
}

static struct listener {
    h2o_context_t *ctx;
    char *conninfo;
    PGconn *conn;
    h2o_socket_t *sock; /* watches a dup of libpq's socket */
    int sock_fd;        /* libpq's socket the h2o socket mirrors (it can change while connecting) */
    enum { IDLE, CONNECTING, SETTING_UP, LISTENING } state;
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    uint64_t retry_at, backoff;
    int read_sequence; /* the set-up read booka_cache_generation (else each reconnect bumps the generation once) */
    int reported_down;
} listener;
static atomic_int started, listening;

static void start_connect(void);
static void on_readable(h2o_socket_t *sock, const char *err);
static void on_writable(h2o_socket_t *sock, const char *err);

static booka_invalidation_observer observer;

void booka_invalidation_set_observer(booka_invalidation_observer fn)
{
    observer = fn;
}

void booka_invalidation_apply_payload(const char *payload)
{
    char *end;
    uint64_t n, cur, before = atomic_load(&booka_cache_generation);

    errno = 0;
    n = strtoull(payload, &end, 10);
    if (payload[0] < '0' || payload[0] > '9' || (*end != '\0' && *end != ' ') || errno != 0) {
        atomic_fetch_add(&booka_cache_generation, 1);
    } else {
        cur = before;
        while (n > cur && !atomic_compare_exchange_weak(&booka_cache_generation, &cur, n))
            ;
    }
    if (observer != NULL)
        observer(payload, before, atomic_load(&booka_cache_generation));
}

int booka_invalidation_is_listening(void)
{
    return atomic_load(&listening);
}

static void close_socket(void)
{
    if (listener.sock != NULL) {
        h2o_socket_close(listener.sock);
        listener.sock = NULL;
    }
    listener.sock_fd = -1;
}

/* fail: drops the connection and schedules a reconnect; while it is down no notification can arrive, so the generation is
 * bumped once more on reconnect (re-reading the sequence). */
static void fail(const char *why)
{
    char reason[256]; /* `why` may be PQerrorMessage of the connection freed below */

    snprintf(reason, sizeof(reason), "%s", why);
    reason[strcspn(reason, "\n")] = '\0';
    why = reason;
    close_socket();
    if (listener.conn != NULL) {
        PQfinish(listener.conn);
        listener.conn = NULL;
    }
    listener.state = IDLE;
    atomic_store(&listening, 0);
    if (!listener.reported_down) {
        booka_log(NULL, "invalidate", "LISTEN connection down (%s); reconnecting with backoff", why);
        listener.reported_down = 1;
    }
    listener.backoff = listener.backoff == 0 ? 100 : listener.backoff * 2;
    if (listener.backoff > MAX_BACKOFF_MS)
        listener.backoff = MAX_BACKOFF_MS;
    listener.retry_at = h2o_now(listener.ctx->loop) + listener.backoff / 2 + (uint64_t)rand() % (listener.backoff / 2 + 1);
    if (!h2o_timeout_is_linked(&listener.tick_entry))
        h2o_timeout_link(listener.ctx->loop, &listener.tick, &listener.tick_entry);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    if (listener.state != IDLE)
        return;
    if (h2o_now(listener.ctx->loop) < listener.retry_at) {
        h2o_timeout_link(listener.ctx->loop, &listener.tick, &listener.tick_entry);
        return;
    }
    start_connect();
}

/* watch: makes the h2o socket follow libpq's current socket, then waits for what libpq wants. */
static void watch(int want_write)
{
    int fd = PQsocket(listener.conn);
    if (fd != listener.sock_fd) {
        int copy;
        close_socket();
        if (fd < 0 || (copy = dup(fd)) == -1) {
            fail("no socket");
            return;
        }
        listener.sock = h2o_evloop_socket_create(listener.ctx->loop, copy, H2O_SOCKET_FLAG_DONT_READ);
        listener.sock_fd = fd;
    }
    if (want_write)
        h2o_socket_notify_write(listener.sock, on_writable);
    else if (!h2o_socket_is_reading(listener.sock))
        h2o_socket_read_start(listener.sock, on_readable);
}

/* poll_connect: drives PQconnectPoll until the connection is up, then sends LISTEN and reads the sequence. */
static void poll_connect(void)
{
    switch (PQconnectPoll(listener.conn)) {
    case PGRES_POLLING_READING:
        watch(0);
        return;
    case PGRES_POLLING_WRITING:
        watch(1);
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        fail(PQerrorMessage(listener.conn));
        return;
    }
    if (PQsetnonblocking(listener.conn, 1) != 0 ||
        !PQsendQuery(listener.conn, "LISTEN " CHANNEL "; SELECT CASE WHEN is_called THEN last_value ELSE 0 END, "
                                    "(SELECT epoch FROM booka_cache_epoch) FROM booka_cache_generation")) {
        fail(PQerrorMessage(listener.conn));
        return;
    }
    listener.state = SETTING_UP;
    watch(PQflush(listener.conn) == 1);
}

/* drain: reads what arrived: the set-up results, then notifications. */
static void drain(void)
{
    PGresult *res;
    PGnotify *note;

    if (!PQconsumeInput(listener.conn)) {
        fail(PQerrorMessage(listener.conn));
        return;
    }
    while (!PQisBusy(listener.conn) && (res = PQgetResult(listener.conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) == 2) {
            atomic_store(&booka_cache_epoch, epoch_of(PQgetvalue(res, 0, 1)));
            booka_invalidation_apply_payload(PQgetvalue(res, 0, 0));
            listener.read_sequence = 1;
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            /* without the sequence (schema not applied yet) notifications still work: each one bumps the generation */
            booka_log(NULL, "invalidate", "set-up query failed: %s", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    if (listener.state == SETTING_UP && !PQisBusy(listener.conn)) {
        listener.state = LISTENING;
        listener.backoff = 0;
        /* Writes made while nobody listened here moved the sequence, and reading it moved the generation past them. Without
         * the sequence (an older schema), assume the worst once. Not a bump in both cases: the next write's nextval would
         * then equal the generation and invalidate nothing. */
        if (!listener.read_sequence)
            atomic_fetch_add(&booka_cache_generation, 1);
        atomic_store(&listening, 1);
        if (listener.reported_down) {
            booka_log(NULL, "invalidate", "LISTEN connection up again");
            listener.reported_down = 0;
        }
    }
    while ((note = PQnotifies(listener.conn)) != NULL) {
        booka_invalidation_apply_payload(note->extra);
        PQfreemem(note);
    }
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    if (listener.state == CONNECTING)
        poll_connect();
    else
        drain();
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    if (listener.state == CONNECTING) {
        poll_connect();
    } else if (PQflush(listener.conn) == 1) {
        h2o_socket_notify_write(listener.sock, on_writable);
    } else if (!h2o_socket_is_reading(listener.sock)) {
        h2o_socket_read_start(listener.sock, on_readable);
    }
}

static void start_connect(void)
{
    if ((listener.conn = PQconnectStart(listener.conninfo)) == NULL) {
        fail("out of memory");
        return;
    }
    if (PQstatus(listener.conn) == CONNECTION_BAD) {
        fail(PQerrorMessage(listener.conn));
        return;
    }
    listener.state = CONNECTING;
    listener.read_sequence = 0;
    poll_connect();
}

void booka_invalidation_context_init(h2o_context_t *ctx, const char *conninfo)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&started, &expected, 1))
        return;
    /* until the database's epoch is read, a random one: this process then shares no keys with anyone */
    atomic_store(&booka_cache_epoch, ((uint64_t)rand() << 32) ^ (uint64_t)rand() ^ (uint64_t)getpid() ^ (uint64_t)time(NULL));
    if (conninfo == NULL)
        return; /* nowhere to LISTEN: the keys stay this process's own, and entries change when they expire */
    listener.ctx = ctx;
    listener.conninfo = h2o_strdup(NULL, conninfo, SIZE_MAX).base;
    listener.sock_fd = -1;
    h2o_timeout_init(ctx->loop, &listener.tick, RETRY_TICK_MS);
    listener.tick_entry.cb = on_tick;
    start_connect();
}
