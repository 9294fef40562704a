/* env_test.c: SCRIPT_NAME / PATH_INFO against libh2o's own path normalisation, header keys, and the Rack env. */
#include <mruby.h>
#include <mruby/compile.h>
#include <mruby/error.h>
#include <mruby/hash.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include "mruby/internal.h"
#include "fake_request.h"
#include "unit.h"

/* split: SCRIPT_NAME and PATH_INFO of a request for `path` matched by `mount`, as "SCRIPT_NAME|PATH_INFO". */
static const char *split(const char *mount, const char *path)
{
    static char out[512];
    struct fake_request f;
    h2o_iovec_t script_name, path_info;

    fake_request_init(&f, mount, "GET", path);
    booka_mruby_split_path(&f.req, &script_name, &path_info);
    snprintf(out, sizeof(out), "%.*s|%.*s", (int)script_name.len, script_name.base, (int)path_info.len, path_info.base);
    fake_request_dispose(&f);
    return out;
}

static void test_split_path(void)
{
    CHECK_STR_EQ(split("/static/api", "/static/api/v1/x?q=1"), "/static/api|/v1/x");
    CHECK_STR_EQ(split("/static/api", "/static/api"), "/static/api|");
    CHECK_STR_EQ(split("/static/api", "/static/api?a=1"), "/static/api|");
    CHECK_STR_EQ(split("/static/api", "/static/api/"), "/static/api|/");
    CHECK_STR_EQ(split("/static/api/", "/static/api/img/1"), "/static/api|/img/1");
    /* PATH_INFO is what the client sent (not decoded), from where the mount point ends after normalisation */
    CHECK_STR_EQ(split("/static/api", "/static/x/../api/./v1/%2e%2e/y"), "/static/api|/./v1/%2e%2e/y");
    CHECK_STR_EQ(split("/static/api", "/static/api/x/../../api/y"), "/static/api|/y");
    CHECK_STR_EQ(split("/static/api", "/static/api/v1%2F..%2Fz?k"), "/static/api|/v1%2F..%2Fz");
    /* an encoded slash right after the mount point: PATH_INFO still starts with "/" */
    CHECK_STR_EQ(split("/static/api", "/static/api%2Fv1/x?q=1"), "/static/api|/v1/x");
    CHECK_STR_EQ(split("/static/api", "/static/api%2fv1"), "/static/api|/v1");
    /* mounted at the root: everything is PATH_INFO */
    CHECK_STR_EQ(split("/", "//api/v1/x?q"), "|//api/v1/x");
    CHECK_STR_EQ(split("/", "/"), "|/");
}

static void test_header_keys(void)
{
    h2o_mem_pool_t pool;
    h2o_iovec_t k;

    h2o_mem_init_pool(&pool);
    k = booka_mruby_env_key_for_header(&pool, H2O_STRLIT("x-request-id"));
    CHECK(h2o_memis(k.base, k.len, H2O_STRLIT("HTTP_X_REQUEST_ID")));
    k = booka_mruby_env_key_for_header(&pool, H2O_STRLIT("Content-Type"));
    CHECK(h2o_memis(k.base, k.len, H2O_STRLIT("CONTENT_TYPE")));
    k = booka_mruby_env_key_for_header(&pool, H2O_STRLIT("content-length"));
    CHECK(h2o_memis(k.base, k.len, H2O_STRLIT("CONTENT_LENGTH")));
    h2o_mem_clear_pool(&pool);
}

struct env_call {
    booka_mruby_thread_t *t;
    h2o_req_t *req;
};

static mrb_value build(mrb_state *mrb, void *data)
{
    struct env_call *call = data;
    return booka_mruby_build_env(call->t, call->req);
}

/* ruby: the value of `expr` (with $env set) as a C string, "(nil)" for nil, "(raised)" on an exception. */
static const char *ruby(booka_mruby_thread_t *t, const char *expr)
{
    static char out[512];
    mrb_value v = mrb_load_string(t->mrb, expr);

    if (t->mrb->exc != NULL) {
        t->mrb->exc = NULL;
        return "(raised)";
    }
    if (mrb_nil_p(v))
        return "(nil)";
    v = mrb_obj_as_string(t->mrb, v);
    snprintf(out, sizeof(out), "%.*s", (int)RSTRING_LEN(v), RSTRING_PTR(v));
    return out;
}

static void test_build_env(void)
{
    booka_mruby_thread_t *t = booka_mruby_thread_create();
    struct fake_request f;
    struct env_call call = {t, &f.req};
    mrb_bool failed;
    mrb_value env;

    fake_request_init(&f, "/static/api", "POST", "/static/api/v1/x?q=1&r=%20");
    h2o_add_header(&f.req.pool, &f.req.headers, H2O_TOKEN_ACCEPT, NULL, H2O_STRLIT("text/html"));
    h2o_add_header(&f.req.pool, &f.req.headers, H2O_TOKEN_ACCEPT, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&f.req.pool, &f.req.headers, H2O_TOKEN_COOKIE, NULL, H2O_STRLIT("a=1"));
    h2o_add_header(&f.req.pool, &f.req.headers, H2O_TOKEN_COOKIE, NULL, H2O_STRLIT("b=2"));
    h2o_add_header(&f.req.pool, &f.req.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain"));
    h2o_add_header(&f.req.pool, &f.req.headers, H2O_TOKEN_CONTENT_LENGTH, NULL, H2O_STRLIT("11"));
    h2o_add_header_by_str(&f.req.pool, &f.req.headers, H2O_STRLIT("x-custom-thing"), 0, NULL, H2O_STRLIT("yes"));
    f.req.entity = h2o_iovec_init(H2O_STRLIT("line1\nline2"));
    *h2o_req_getenv(&f.req, H2O_STRLIT("FROM_FALLTHRU"), 1) = h2o_iovec_init(H2O_STRLIT("set"));

    env = mrb_protect_error(t->mrb, build, &call, &failed);
    CHECK(!failed);
    CHECK(mrb_hash_p(env));
    mrb_gv_set(t->mrb, mrb_intern_lit(t->mrb, "$env"), env);
    CHECK_STR_EQ(ruby(t, "$env['REQUEST_METHOD']"), "POST");
    CHECK_STR_EQ(ruby(t, "$env['SCRIPT_NAME']"), "/static/api");
    CHECK_STR_EQ(ruby(t, "$env['PATH_INFO']"), "/v1/x");
    CHECK_STR_EQ(ruby(t, "$env['QUERY_STRING']"), "q=1&r=%20");
    CHECK_STR_EQ(ruby(t, "$env['SERVER_NAME']"), "default");
    CHECK_STR_EQ(ruby(t, "$env['SERVER_ADDR'] + ':' + $env['SERVER_PORT']"), "127.0.0.1:8080");
    CHECK_STR_EQ(ruby(t, "$env['REMOTE_ADDR'] + ':' + $env['REMOTE_PORT']"), "10.0.0.7:54321");
    CHECK_STR_EQ(ruby(t, "$env['SERVER_PROTOCOL']"), "HTTP/1.1");
    CHECK_STR_EQ(ruby(t, "$env['SERVER_SOFTWARE']"), "h2o/2.2.5");
    CHECK_STR_EQ(ruby(t, "$env['HTTP_HOST']"), "api.example.com");
    CHECK_STR_EQ(ruby(t, "$env['HTTP_ACCEPT']"), "text/html, application/json");
    CHECK_STR_EQ(ruby(t, "$env['HTTP_COOKIE']"), "a=1; b=2");
    CHECK_STR_EQ(ruby(t, "$env['CONTENT_TYPE']"), "text/plain");
    CHECK_STR_EQ(ruby(t, "$env['CONTENT_LENGTH']"), "11");
    CHECK_STR_EQ(ruby(t, "$env.key?('HTTP_CONTENT_LENGTH')"), "false");
    CHECK_STR_EQ(ruby(t, "$env['HTTP_X_CUSTOM_THING']"), "yes");
    CHECK_STR_EQ(ruby(t, "$env['FROM_FALLTHRU']"), "set");
    CHECK_STR_EQ(ruby(t, "$env['rack.url_scheme']"), "http");
    CHECK_STR_EQ(ruby(t, "[$env['rack.multithread'], $env['rack.multiprocess'], $env['rack.run_once']].inspect"),
                 "[false, true, false]");
    CHECK_STR_EQ(ruby(t, "$env['rack.errors'].class"), "IO");
    CHECK_STR_EQ(ruby(t, "i = $env['rack.input']; [i.gets, i.read, i.read(1), (i.rewind; i.read(3))].inspect"),
                 "[\"line1\\n\", \"line2\", nil, \"lin\"]");
    CHECK_STR_EQ(ruby(t, "$env.keys.all? { |k| k.frozen? }"), "true");
    fake_request_dispose(&f);
    booka_mruby_thread_destroy(t);
}

int main(void)
{
    test_split_path();
    test_header_keys();
    test_build_env();
    return unit_report("mruby_env");
}
