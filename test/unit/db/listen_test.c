/* listen_test.c: plugin/db/listen.c against a real Postgres (BOOKA_TEST_DATABASE_URL): LISTEN then the set-up query,
 * notifications, TCP keepalives on the socket, a host name resolved off the loop, a terminated backend replaced, a failing
 * set-up query that leaves the LISTEN in effect, no listener without a target, and its application_name. */
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "db/internal.h"
#include "db/listen.h"
#include "unit.h"

static h2o_globalconf_t globalconf;

struct events {
    int up, down, notes;
    char setup[64], payload[64];
};

static void on_up(void *data, const PGresult *setup)
{
    struct events *e = data;
    ++e->up;
    snprintf(e->setup, sizeof(e->setup), "%s", setup != NULL ? PQgetvalue(setup, 0, 0) : "(none)");
}

static void on_notify(void *data, const char *payload)
{
    struct events *e = data;
    ++e->notes;
    snprintf(e->payload, sizeof(e->payload), "%s", payload);
}

static void on_down(void *data)
{
    struct events *e = data;
    ++e->down;
}

static const booka_db_listen_callbacks_t callbacks = {on_up, on_notify, on_down};

static h2o_context_t *new_context(void)
{
    h2o_context_t *ctx = calloc(1, sizeof(*ctx));
    h2o_context_init(ctx, h2o_evloop_create(), &globalconf);
    return ctx;
}

/* run_until: runs the loop until *counter reaches `want` or 5 s pass (generous: the machine is shared). */
static void run_until(h2o_context_t *ctx, int *counter, int want)
{
    uint64_t start = h2o_now(ctx->loop);
    while (*counter < want && h2o_now(ctx->loop) - start < 5000)
        h2o_evloop_run(ctx->loop, 10);
}

static void exec_blocking(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void prepare(db_target_t *target, const char *conninfo)
{
    char err[256];
    db_target_dispose(target);
    *target = (db_target_t){.conninfo = (char *)conninfo, .application_name = "booka-origin-listen"};
    if (db_target_prepare(target, &db_settings, err, sizeof(err)) != 0)
        fprintf(stderr, "cannot prepare %s: %s\n", conninfo, err);
}

/* tcp_keepidle: TCP_KEEPIDLE of the process's TCP sockets that have SO_KEEPALIVE on, the largest (0 when none). */
static int tcp_keepidle(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *ent;
    int best = 0;

    while ((ent = readdir(d)) != NULL) {
        int fd = atoi(ent->d_name), on = 0, idle = 0, type = 0;
        socklen_t len = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
            continue;
        len = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len) != 0 || !on)
            continue;
        len = sizeof(int);
        if (getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &len) == 0 && idle > best)
            best = idle;
    }
    closedir(d);
    return best;
}

/* with_localhost: the URL with 127.0.0.1 written as localhost, so the listener has a name to resolve. */
static char *with_localhost(const char *url)
{
    const char *at = strstr(url, "127.0.0.1");
    char *out = malloc(strlen(url) + 16);
    if (at == NULL)
        return strcpy(out, url);
    sprintf(out, "%.*slocalhost%s", (int)(at - url), url, at + strlen("127.0.0.1"));
    return out;
}

static void test_listen(const char *conninfo)
{
    struct events e = {0};
    h2o_context_t *ctx = new_context();
    char *named = with_localhost(conninfo), pid[64], sql[160];

    prepare(&db_settings.listen, named);
    CHECK(db_settings.listen.resolve != NULL); /* the host is resolved by the link, never by libpq on the loop */
    CHECK(booka_db_listen(ctx, "booka_unit_test", "SELECT pg_backend_pid()::text", &callbacks, &e) != NULL);
    run_until(ctx, &e.up, 1);
    CHECK_INT_EQ(e.up, 1);
    snprintf(pid, sizeof(pid), "%s", e.setup);
    CHECK(atoi(pid) > 0);
    CHECK_INT_EQ(tcp_keepidle(), 30); /* the pool's keepalives, not the system's two hours */

    exec_blocking(conninfo, "NOTIFY booka_unit_test, 'first'");
    run_until(ctx, &e.notes, 1);
    CHECK_INT_EQ(e.notes, 1);
    CHECK_STR_EQ(e.payload, "first");

    /* a terminated backend: down, then up again on a new one, which hears the channel */
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid);
    exec_blocking(conninfo, sql);
    run_until(ctx, &e.up, 2);
    CHECK_INT_EQ(e.down, 1);
    CHECK_INT_EQ(e.up, 2);
    CHECK(strcmp(e.setup, pid) != 0);
    exec_blocking(conninfo, "NOTIFY booka_unit_test, 'second'");
    run_until(ctx, &e.notes, 2);
    CHECK_STR_EQ(e.payload, "second");
    free(named);
}

/* test_failed_setup: the set-up query fails (an older schema without the sequence): on_up gets NULL and the LISTEN, which
 * committed on its own, still hears the channel. */
static void test_failed_setup(const char *conninfo)
{
    struct events e = {0};
    h2o_context_t *ctx = new_context();

    prepare(&db_settings.listen, conninfo);
    CHECK(booka_db_listen(ctx, "booka_unit_other", "SELECT * FROM no_such_table_here", &callbacks, &e) != NULL);
    run_until(ctx, &e.up, 1);
    CHECK_INT_EQ(e.up, 1);
    CHECK_STR_EQ(e.setup, "(none)");
    exec_blocking(conninfo, "NOTIFY booka_unit_other, 'heard'");
    run_until(ctx, &e.notes, 1);
    CHECK_STR_EQ(e.payload, "heard");
}

/* test_targets: without a prepared LISTEN target (no database, or pgBouncer without listen-url) there is no listener;
 * the connection is named apart from the pools' in pg_stat_activity. */
static void test_targets(const char *conninfo)
{
    struct events e = {0};
    h2o_context_t *ctx = new_context();

    db_target_dispose(&db_settings.listen);
    CHECK(booka_db_listen(ctx, "booka_unit_none", NULL, &callbacks, &e) == NULL);
    prepare(&db_settings.listen, conninfo);
    CHECK(booka_db_listen(ctx, "booka_unit_named", "SELECT current_setting('application_name')", &callbacks, &e) != NULL);
    run_until(ctx, &e.up, 1);
    CHECK_STR_EQ(e.setup, "booka-origin-listen");
}

int main(void)
{
    const char *live = getenv("BOOKA_TEST_DATABASE_URL");

    h2o_config_init(&globalconf);
    h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    db_settings.max_reconnect_delay = 200;
    if (live == NULL || live[0] == '\0') {
        printf("db_listen: BOOKA_TEST_DATABASE_URL not set, live Postgres tests skipped\n");
        return unit_report("db_listen");
    }
    test_listen(live);
    test_failed_setup(live);
    test_targets(live);
    return unit_report("db_listen");
}
