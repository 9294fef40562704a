/* pool_test.c: plugin/db: connection parameters, and the pool on a real event loop against a refusing port, a silent
 * server, and (when BOOKA_TEST_DATABASE_URL names one) a real Postgres: results, retry after pg_terminate_backend,
 * deadline with cancel, SQL errors. */
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "db/db.h"
#include "db/internal.h"
#include "unit.h"

static h2o_globalconf_t globalconf;

struct outcome {
    int done, calls;
    booka_db_status_t status;
    char value[64];
};

static void on_result(void *data, booka_db_status_t status, PGresult *const *results, size_t num_results)
{
    struct outcome *o = data;
    ++o->calls;
    o->done = 1;
    o->status = status;
    if (status == BOOKA_DB_OK && num_results >= 1 && PQntuples(results[0]) >= 1)
        snprintf(o->value, sizeof(o->value), "%s", PQgetvalue(results[0], 0, 0));
}

static const char *keyword_value(const db_target_t *t, const char *keyword)
{
    for (size_t i = 0; t->keywords[i] != NULL; ++i)
        if (strcmp(t->keywords[i], keyword) == 0)
            return t->values[i];
    return NULL;
}

static void test_target_prepare(void)
{
    db_settings_t s = {.statement_timeout = 1234};
    db_target_t t = {.conninfo = "postgresql://u@127.0.0.1:5/db?application_name=mine&options=-c%20search_path%3Dx"};
    char err[256];

    CHECK_INT_EQ(db_target_prepare(&t, &s, err, sizeof(err)), 0);
    CHECK_STR_EQ(keyword_value(&t, "application_name"), "mine");
    CHECK_STR_EQ(keyword_value(&t, "options"),
                 "-c plan_cache_mode=force_custom_plan -c jit=off -c statement_timeout=1234 -c search_path=x");
    CHECK_STR_EQ(keyword_value(&t, "keepalives"), "1");
    CHECK_STR_EQ(keyword_value(&t, "gssencmode"), "disable");
    CHECK_STR_EQ(keyword_value(&t, "host"), "127.0.0.1");
    CHECK(keyword_value(&t, "hostaddr") == NULL);
    CHECK(t.resolve == NULL);
    db_target_dispose(&t);

    s.pgbouncer = 1;
    t = (db_target_t){.conninfo = "host=db.example.com,10.0.0.1,/var/run/postgresql port=5432,5433,5434 dbname=x"};
    CHECK_INT_EQ(db_target_prepare(&t, &s, err, sizeof(err)), 0);
    CHECK(keyword_value(&t, "options") == NULL); /* pgBouncer refuses startup options */
    CHECK_STR_EQ(keyword_value(&t, "application_name"), "booka-origin");
    CHECK(t.resolve != NULL && t.num_hosts == 3 && t.resolve[0] && !t.resolve[1] && !t.resolve[2]);
    CHECK_INT_EQ(t.num_ports, 3);
    CHECK_STR_EQ(keyword_value(&t, "hostaddr"), "");
    db_target_dispose(&t);

    t = (db_target_t){.conninfo = "host=x bogus_keyword=1"};
    CHECK_INT_EQ(db_target_prepare(&t, &s, err, sizeof(err)), -1);
    CHECK(strstr(err, "bogus_keyword") != NULL);
}

/* new_context: a fresh context (and so fresh pools) with the settings now in db_settings. */
static h2o_context_t *new_context(void)
{
    h2o_context_t *ctx = calloc(1, sizeof(*ctx));
    h2o_context_init(ctx, h2o_evloop_create(), &globalconf);
    return ctx;
}

/* run_until: runs ctx's loop until *flag is set or `ms` pass; returns the elapsed milliseconds. */
static uint64_t run_until(h2o_context_t *ctx, int *flag, uint64_t ms)
{
    uint64_t start = h2o_now(ctx->loop);
    while ((flag == NULL || !*flag) && h2o_now(ctx->loop) - start < ms)
        h2o_evloop_run(ctx->loop, 10);
    return h2o_now(ctx->loop) - start;
}

static void use_target(const char *conninfo)
{
    char err[256];
    db_target_dispose(&db_settings.primary);
    db_settings.primary = (db_target_t){.conninfo = (char *)conninfo};
    db_settings.statement_timeout = db_settings.query_timeout;
    if (db_target_prepare(&db_settings.primary, &db_settings, err, sizeof(err)) != 0)
        fprintf(stderr, "cannot prepare %s: %s\n", conninfo, err);
}

static booka_db_status_t submit(h2o_context_t *ctx, const char *sql, const char *param, struct outcome *o)
{
    booka_db_statement_t st = {sql, param != NULL ? 1 : 0, {param}};
    *o = (struct outcome){0};
    return booka_db_submit(ctx, booka_db_query_new(&st, 1, BOOKA_DB_READ_ONLY, on_result, o));
}

/* a port nothing listens on */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_refused(void)
{
    char url[128];
    struct outcome o;
    h2o_context_t *ctx;
    booka_db_status_t st;

    db_settings.pool_size = 2;
    db_settings.query_timeout = 2000;
    db_settings.connect_timeout = 1000;
    snprintf(url, sizeof(url), "postgresql://u@127.0.0.1:%d/db", closed_port());
    use_target(url);
    ctx = new_context();
    booka_db_context_init(ctx);
    st = submit(ctx, "SELECT 1", NULL, &o);
    CHECK_INT_EQ(o.calls, 0); /* never called back from inside submit */
    if (st == BOOKA_DB_OK) {
        uint64_t elapsed = run_until(ctx, &o.done, 3000);
        CHECK_INT_EQ(o.status, BOOKA_DB_UNAVAILABLE);
        CHECK(elapsed < 500); /* answered when the attempts fail, not at the deadline */
    } else {
        CHECK_INT_EQ(st, BOOKA_DB_UNAVAILABLE);
    }
    CHECK(!booka_db_is_up(ctx));
    /* once down, refused at once */
    CHECK_INT_EQ(submit(ctx, "SELECT 1", NULL, &o), BOOKA_DB_UNAVAILABLE);
    CHECK_INT_EQ(o.calls, 0);
    CHECK(booka_db_retry_after(ctx) >= 1 && booka_db_retry_after(ctx) <= 3);
}

static void test_silent_server(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[128];
    struct outcome o1, o2, o3;
    h2o_context_t *ctx;
    uint64_t elapsed;
    booka_db_stats_t stats;

    bind(fd, (struct sockaddr *)&a, sizeof(a));
    listen(fd, 16); /* the kernel completes handshakes; nobody ever answers the startup packet */
    getsockname(fd, (struct sockaddr *)&a, &len);
    db_settings.pool_size = 1;
    db_settings.query_timeout = 150;
    db_settings.connect_timeout = 5000;
    db_settings.queue_limit = 1;
    snprintf(url, sizeof(url), "postgresql://u@127.0.0.1:%d/db", ntohs(a.sin_port));
    use_target(url);
    ctx = new_context();
    CHECK_INT_EQ(submit(ctx, "SELECT 1", NULL, &o1), BOOKA_DB_OK);
    CHECK_INT_EQ(submit(ctx, "SELECT 2", NULL, &o2), BOOKA_DB_QUEUE_FULL);
    CHECK_INT_EQ(o2.calls, 0);
    elapsed = run_until(ctx, &o1.done, 2000);
    CHECK_INT_EQ(o1.status, BOOKA_DB_TIMEOUT);
    CHECK(elapsed >= 140 && elapsed < 600);
    /* an abandoned query is never called back */
    CHECK_INT_EQ(submit(ctx, "SELECT 3", NULL, &o3), BOOKA_DB_OK);
    booka_db_get_stats(ctx, 0, &stats);
    CHECK_INT_EQ(stats.waiting, 1);
    CHECK_INT_EQ(stats.timeouts, 1);
    CHECK_INT_EQ(stats.queue_full, 1);
    close(fd);
}

static void test_abandon(void)
{
    /* reuses the silent server's pool settings with a fresh, refusing target: the query waits, is abandoned, and no
     * callback follows even when the pool later fails it */
    char url[128];
    struct outcome o;
    h2o_context_t *ctx;
    booka_db_statement_t st = {"SELECT 1", 0, {NULL}};
    booka_db_query_t *q;

    db_settings.query_timeout = 100;
    snprintf(url, sizeof(url), "postgresql://u@127.0.0.1:%d/db", closed_port());
    use_target(url);
    ctx = new_context();
    o = (struct outcome){0};
    q = booka_db_query_new(&st, 1, BOOKA_DB_READ_ONLY, on_result, &o);
    if (booka_db_submit(ctx, q) == BOOKA_DB_OK)
        booka_db_query_abandon(q);
    run_until(ctx, NULL, 250);
    CHECK_INT_EQ(o.calls, 0);
}

/* blocking helper for the live test: runs one statement on a separate connection */
static void exec_blocking(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void test_live(const char *conninfo)
{
    struct outcome o;
    h2o_context_t *ctx;
    char pid[64];

    db_settings.pool_size = 1;
    db_settings.query_timeout = 1500;
    db_settings.connect_timeout = 2000;
    db_settings.cancel_grace = 2000;
    db_settings.queue_limit = 16;
    use_target(conninfo);
    ctx = new_context();
    booka_db_context_init(ctx);

    CHECK_INT_EQ(submit(ctx, "SELECT $1::int + 1", "41", &o), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_INT_EQ(o.status, BOOKA_DB_OK);
    CHECK_STR_EQ(o.value, "42");
    CHECK(booka_db_is_up(ctx));
    /* the same SQL again runs the prepared statement */
    CHECK_INT_EQ(submit(ctx, "SELECT $1::int + 1", "1", &o), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_STR_EQ(o.value, "2");
    CHECK_INT_EQ(submit(ctx,
                        "SELECT current_setting('statement_timeout') || ' ' || current_setting('plan_cache_mode') || ' ' || "
                        "current_setting('jit')",
                        NULL, &o),
                 BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_STR_EQ(o.value, "1500ms force_custom_plan off");

    /* SQL errors are QUERY_ERROR, and the connection goes on */
    CHECK_INT_EQ(submit(ctx, "SELECT * FROM no_such_table_here", NULL, &o), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_INT_EQ(o.status, BOOKA_DB_QUERY_ERROR);

    /* a terminated backend costs no error: the query is retried on a fresh connection */
    CHECK_INT_EQ(submit(ctx, "SELECT pg_backend_pid()::text", NULL, &o), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    snprintf(pid, sizeof(pid), "%s", o.value);
    {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid);
        exec_blocking(conninfo, sql);
    }
    CHECK_INT_EQ(submit(ctx, "SELECT pg_backend_pid()::text", NULL, &o), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_INT_EQ(o.status, BOOKA_DB_OK);
    CHECK(strcmp(o.value, pid) != 0 && o.value[0] != '\0');
    snprintf(pid, sizeof(pid), "%s", o.value);

    /* past the deadline: TIMEOUT at the deadline; the statement is cancelled and the same connection serves on */
    CHECK_INT_EQ(submit(ctx, "SELECT pg_sleep(10)", NULL, &o), BOOKA_DB_OK);
    {
        uint64_t elapsed = run_until(ctx, &o.done, 5000);
        CHECK_INT_EQ(o.status, BOOKA_DB_TIMEOUT);
        CHECK(elapsed >= 1400 && elapsed < 2500);
    }
    CHECK_INT_EQ(submit(ctx, "SELECT pg_backend_pid()::text", NULL, &o), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_INT_EQ(o.status, BOOKA_DB_OK);
    CHECK_STR_EQ(o.value, pid);
}

/* test_prepare_failed_in_pipeline: a Prepare that failed, and one that never ran because an earlier command of its
 * pipeline failed, are both forgotten; their next use prepares them again under names no live statement has. (Before,
 * the skipped one stayed known: its next Execute failed with 26000, the statements were forgotten and renumbered, and
 * the new booka_0 collided with the old one still on the server: 42P05 on every use until the connection closed.) */
static void test_prepare_failed_in_pipeline(const char *conninfo)
{
    struct outcome o;
    h2o_context_t *ctx;
    booka_db_statement_t both[2] = {{"SELECT * FROM no_such_table_here", 0, {NULL}}, {"SELECT 'skipped'::text", 0, {NULL}}};

    db_settings.pool_size = 1;
    use_target(conninfo);
    ctx = new_context();
    booka_db_context_init(ctx);
    CHECK_INT_EQ(submit(ctx, "SELECT 'first'::text", NULL, &o), BOOKA_DB_OK); /* prepared on the server */
    run_until(ctx, &o.done, 3000);
    CHECK_STR_EQ(o.value, "first");

    o = (struct outcome){0};
    CHECK_INT_EQ(booka_db_submit(ctx, booka_db_query_new(both, 2, BOOKA_DB_READ_ONLY, on_result, &o)), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_INT_EQ(o.status, BOOKA_DB_QUERY_ERROR);

    CHECK_INT_EQ(submit(ctx, "SELECT 'skipped'::text", NULL, &o), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_INT_EQ(o.status, BOOKA_DB_OK);
    CHECK_STR_EQ(o.value, "skipped");
    CHECK_INT_EQ(submit(ctx, "SELECT 'first'::text", NULL, &o), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_INT_EQ(o.status, BOOKA_DB_OK);
    CHECK_STR_EQ(o.value, "first");
}

/* test_abandoned_then_lost: a running query is abandoned (its request went away), then its connection is lost before
 * the query's deadline. The pool must drop the query with its deadline timer: before the fix, conn_lost freed the query
 * while it stayed linked on the timer, and the deadline then ran on freed memory (AddressSanitizer: heap-use-after-free
 * in on_deadline). */
static void test_abandoned_then_lost(const char *conninfo)
{
    struct outcome o, after;
    h2o_context_t *ctx;
    booka_db_statement_t st = {"SELECT pg_sleep(30)", 0, {NULL}};
    booka_db_query_t *q;
    char sql[128], pid[64];
    booka_db_stats_t stats;

    db_settings.pool_size = 1;
    db_settings.query_timeout = 800;
    use_target(conninfo);
    ctx = new_context();
    booka_db_context_init(ctx);
    CHECK_INT_EQ(submit(ctx, "SELECT pg_backend_pid()::text", NULL, &o), BOOKA_DB_OK);
    run_until(ctx, &o.done, 3000);
    CHECK_INT_EQ(o.status, BOOKA_DB_OK);
    snprintf(pid, sizeof(pid), "%s", o.value);

    o = (struct outcome){0};
    q = booka_db_query_new(&st, 1, 0, on_result, &o); /* not read-only: never retried */
    CHECK_INT_EQ(booka_db_submit(ctx, q), BOOKA_DB_OK);
    run_until(ctx, NULL, 100); /* sent: it runs on the connection */
    booka_db_query_abandon(q);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid);
    exec_blocking(conninfo, sql);
    /* the loss is seen, the connection replaced, and the abandoned query's deadline passes */
    run_until(ctx, NULL, 1500);
    CHECK_INT_EQ(o.calls, 0);
    booka_db_get_stats(ctx, 0, &stats);
    CHECK_INT_EQ(stats.timeouts, 0); /* its deadline did not run */
    CHECK_INT_EQ(submit(ctx, "SELECT 'after'::text", NULL, &after), BOOKA_DB_OK);
    run_until(ctx, &after.done, 3000);
    CHECK_INT_EQ(after.status, BOOKA_DB_OK);
    CHECK_STR_EQ(after.value, "after");
}

int main(void)
{
    const char *live = getenv("BOOKA_TEST_DATABASE_URL");

    h2o_config_init(&globalconf);
    h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    test_target_prepare();
    test_refused();
    test_silent_server();
    test_abandon();
    if (live != NULL && live[0] != '\0') {
        test_live(live);
        test_prepare_failed_in_pipeline(live);
        test_abandoned_then_lost(live);
    } else
        printf("db_pool: BOOKA_TEST_DATABASE_URL not set, live Postgres tests skipped\n");
    db_target_dispose(&db_settings.primary);
    return unit_report("db_pool");
}
