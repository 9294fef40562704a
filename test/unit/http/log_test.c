/* log_test.c: error-log messages become one line (libpq's multi-line errors, trailing newlines, control bytes), and a
 * request trace's times become access-log environment variables. */
#include "unit.h"
#include "http/http.h"

static const char *flatten(const char *in)
{
    static char buf[256];
    size_t len = strlen(in);
    memcpy(buf, in, len);
    buf[booka_log_flatten(buf, len)] = '\0';
    return buf;
}

static const char *env_of(h2o_req_t *req, const char *name)
{
    static char buf[64];
    h2o_iovec_t *v = h2o_req_getenv(req, name, strlen(name), 0);
    if (v == NULL)
        return NULL;
    snprintf(buf, sizeof(buf), "%.*s", (int)v->len, v->base);
    return buf;
}

int main(void)
{
    h2o_req_t req = {0};
    booka_trace_t trace, more;

    CHECK_STR_EQ(flatten("ERROR:  canceling statement due to statement timeout\n"),
                 "ERROR:  canceling statement due to statement timeout"); /* inner double space kept, newline gone */
    CHECK_STR_EQ(flatten("ERROR:  relation \"x\" does not exist\nLINE 1: SELECT 1\n        ^\nHINT:  check\n"),
                 "ERROR:  relation \"x\" does not exist LINE 1: SELECT 1 ^ HINT:  check");
    CHECK_STR_EQ(flatten("server closed the connection unexpectedly\n\tThis probably means\r\n\tthe server died\n"),
                 "server closed the connection unexpectedly This probably means the server died");
    CHECK_STR_EQ(flatten("bell\a and escape\x1b[31m and del\x7f"), "bell? and escape?[31m and del?");
    CHECK_STR_EQ(flatten("tab\tinside"), "tab\tinside");
    CHECK_STR_EQ(flatten("\n\n"), "");
    CHECK_STR_EQ(flatten(""), "");

    h2o_mem_init_pool(&req.pool);
    booka_trace_init(&trace, h2o_iovec_init(H2O_STRLIT("abc-123")));
    CHECK_STR_EQ(trace.request_id, "abc-123");
    CHECK_INT_EQ(trace.db_us + trace.redis_us + trace.fetch_us + trace.avatar_queue_us + trace.avatar_render_us, 0);
    booka_trace_init(&more, h2o_iovec_init(NULL, 0));
    CHECK_STR_EQ(more.request_id, "");
    trace.db_us = 1500;
    more.db_us = 250, more.avatar_render_us = 2000001;
    booka_trace_add_times(&trace, &more);
    CHECK_STR_EQ(trace.request_id, "abc-123");
    CHECK_INT_EQ(trace.db_us, 1750);
    booka_trace_export(&req, &trace);
    CHECK_STR_EQ(env_of(&req, "booka-db-time"), "0.001750");
    CHECK_STR_EQ(env_of(&req, "booka-avatar-render-time"), "2.000001");
    CHECK(env_of(&req, "booka-redis-time") == NULL); /* nothing spent there: unset, so the access log shows "-" */
    CHECK(env_of(&req, "booka-fetch-time") == NULL);
    trace.db_us = 3000000;
    booka_trace_export(&req, &trace); /* exporting again replaces the values */
    CHECK_STR_EQ(env_of(&req, "booka-db-time"), "3.000000");
    CHECK_INT_EQ(req.env.size, 4); /* two variables, name and value each */
    h2o_mem_clear_pool(&req.pool);
    return unit_report("http_log");
}
