/* response_test.c: booka_mruby_read_response: status, headers (as tokens, split, dropped, fall-through env) and body. */
#include <mruby.h>
#include <mruby/compile.h>
#include <mruby/error.h>
#include <mruby/string.h>
#include "mruby/internal.h"
#include "fake_request.h"
#include "unit.h"

struct read_call {
    booka_mruby_thread_t *t;
    h2o_req_t *req;
    mrb_value response;
    booka_mruby_response_t out;
};

static mrb_value read_response(mrb_state *mrb, void *data)
{
    struct read_call *call = data;
    booka_mruby_read_response(call->t, call->req, call->response, &call->out);
    return mrb_nil_value();
}

/* convert: evaluates `ruby` (a Rack response) and reads it into f's request. Returns NULL on success, else the message
 * of what was raised. */
static const char *convert(booka_mruby_thread_t *t, struct fake_request *f, const char *ruby, booka_mruby_response_t *out)
{
    static char message[512];
    int arena = mrb_gc_arena_save(t->mrb);
    struct read_call call = {t, &f->req, mrb_load_string(t->mrb, ruby)};
    mrb_bool failed;
    mrb_value exc;

    CHECK(t->mrb->exc == NULL);
    exc = mrb_protect_error(t->mrb, read_response, &call, &failed);
    *out = call.out;
    if (failed) {
        mrb_value m = mrb_funcall_argv(t->mrb, exc, mrb_intern_lit(t->mrb, "message"), 0, NULL);
        snprintf(message, sizeof(message), "%.*s", (int)RSTRING_LEN(m), RSTRING_PTR(m));
    }
    mrb_gc_arena_restore(t->mrb, arena);
    return failed ? message : NULL;
}

static void test_plain_response(booka_mruby_thread_t *t)
{
    struct fake_request f;
    booka_mruby_response_t res;

    fake_request_init(&f, "/", "GET", "/");
    CHECK(convert(t, &f, "[201, {'Content-Type' => 'text/plain', 'X-Multi' => \"a\\nb\", 'X-Num' => 7}, ['he', 'llo']]", &res) ==
          NULL);
    CHECK_INT_EQ(res.status, 201);
    CHECK(h2o_memis(res.body.base, res.body.len, H2O_STRLIT("hello")));
    CHECK(h2o_find_header(&f.req.res.headers, H2O_TOKEN_CONTENT_TYPE, -1) != -1);
    CHECK_STR_EQ(fake_header_value(&f, "content-type", 0), "text/plain");
    CHECK_STR_EQ(fake_header_value(&f, "x-multi", 0), "a");
    CHECK_STR_EQ(fake_header_value(&f, "x-multi", 1), "b");
    CHECK_STR_EQ(fake_header_value(&f, "x-num", 0), "7");
    fake_request_dispose(&f);
}

static void test_reproxy_header_is_a_token(booka_mruby_thread_t *t)
{
    struct fake_request f;
    booka_mruby_response_t res;

    fake_request_init(&f, "/", "GET", "/");
    CHECK(convert(t, &f, "[307, {'x-reproxy-url' => '/api/v1/x/?q=1'}, []]", &res) == NULL);
    CHECK_INT_EQ(res.status, 307);
    CHECK_INT_EQ(res.body.len, 0);
    /* the reproxy filter finds it with h2o_find_header(..., H2O_TOKEN_X_REPROXY_URL, ...) */
    CHECK(h2o_find_header(&f.req.res.headers, H2O_TOKEN_X_REPROXY_URL, -1) != -1);
    CHECK_STR_EQ(fake_header_value(&f, "x-reproxy-url", 0), "/api/v1/x/?q=1");
    fake_request_dispose(&f);
}

static void test_header_forms_and_dropped_headers(booka_mruby_thread_t *t)
{
    struct fake_request f;
    booka_mruby_response_t res;

    fake_request_init(&f, "/", "GET", "/");
    CHECK(convert(t, &f,
                  "[200, [['Set-Cookie', 'a=1'], ['set-cookie', 'b=2'], ['Connection', 'close'], ['Transfer-Encoding', 'chunked'],"
                  " ['Content-Length', '999'], ['Date', 'yesterday']], ['x']]",
                  &res) == NULL);
    CHECK_STR_EQ(fake_header_value(&f, "set-cookie", 0), "a=1");
    CHECK_STR_EQ(fake_header_value(&f, "set-cookie", 1), "b=2");
    CHECK(fake_header_value(&f, "connection", 0) == NULL);
    CHECK(fake_header_value(&f, "transfer-encoding", 0) == NULL);
    CHECK(fake_header_value(&f, "content-length", 0) == NULL);
    CHECK(fake_header_value(&f, "date", 0) == NULL);
    fake_request_dispose(&f);

    /* anything whose #each yields pairs */
    fake_request_init(&f, "/", "GET", "/");
    CHECK(convert(t, &f,
                  "class Pairs\n  def each\n    yield ['x-a', '1']\n    yield ['x-b', '2']\n  end\nend\n[200, Pairs.new, []]",
                  &res) == NULL);
    CHECK_STR_EQ(fake_header_value(&f, "x-a", 0), "1");
    CHECK_STR_EQ(fake_header_value(&f, "x-b", 0), "2");
    fake_request_dispose(&f);
}

static void test_fall_through(booka_mruby_thread_t *t)
{
    struct fake_request f;
    booka_mruby_response_t res;
    h2o_iovec_t *var;

    fake_request_init(&f, "/", "GET", "/");
    /* the body is not read (its #each would raise) and the headers stay for the next handler */
    CHECK(convert(t, &f,
                  "class Never\n  def each\n    raise 'read'\n  end\nend\n"
                  "[399, {'x-kept' => 'yes', 'x-fallthru-set-user-id' => '42'}, Never.new]",
                  &res) == NULL);
    CHECK_INT_EQ(res.status, BOOKA_MRUBY_STATUS_FALLTHROUGH);
    CHECK_STR_EQ(fake_header_value(&f, "x-kept", 0), "yes");
    CHECK(fake_header_value(&f, "x-fallthru-set-user-id", 0) == NULL);
    var = h2o_req_getenv(&f.req, H2O_STRLIT("USER_ID"), 0);
    CHECK(var != NULL && h2o_memis(var->base, var->len, H2O_STRLIT("42")));
    fake_request_dispose(&f);
}

static void test_each_body_is_closed(booka_mruby_thread_t *t)
{
    struct fake_request f;
    booka_mruby_response_t res;
    const char *body_class = "class Body\n"
                             "  def initialize(fail) @fail = fail end\n"
                             "  def each\n"
                             "    yield 'a'\n"
                             "    raise 'midway' if @fail\n"
                             "    yield 'b'\n"
                             "  end\n"
                             "  def close\n"
                             "    $closed = ($closed || 0) + 1\n"
                             "  end\n"
                             "end\n";
    char ruby[1024];
    mrb_value closed;

    fake_request_init(&f, "/", "GET", "/");
    snprintf(ruby, sizeof(ruby), "%s[200, {}, Body.new(false)]", body_class);
    CHECK(convert(t, &f, ruby, &res) == NULL);
    CHECK(h2o_memis(res.body.base, res.body.len, H2O_STRLIT("ab")));
    snprintf(ruby, sizeof(ruby), "%s[200, {}, Body.new(true)]", body_class);
    CHECK_STR_EQ(convert(t, &f, ruby, &res), "midway");
    closed = mrb_load_string(t->mrb, "$closed");
    CHECK(mrb_integer_p(closed) && mrb_integer(closed) == 2); /* closed after each, also when each raised */
    fake_request_dispose(&f);
}

static void test_invalid_responses_raise(booka_mruby_thread_t *t)
{
    static const struct {
        const char *ruby, *message;
    } cases[] = {
        {"'hello'", "the app did not return [status, headers, body]"},
        {"[200, {}]", "the app did not return [status, headers, body]"},
        {"[99, {}, []]", "status 99 returned by the app is out of range (100..999)"},
        {"[1000, {}, []]", "status 1000 returned by the app is out of range (100..999)"},
        {"[nil, {}, []]", NULL},
        {"[200, {'bad name' => 'x'}, []]", "invalid header name \"bad name\" in the app's response"},
        {"[200, {':status' => '200'}, []]", "invalid header name \":status\" in the app's response"},
        {"[200, {'' => 'x'}, []]", "empty header name in the app's response"},
        {"[200, {'x-a' => \"1\\r\\nx-b: 2\"}, []]", "control character in the value of header \"x-a\""},
        {"[200, 42, []]", "the app's headers are not a Hash, an Array of pairs, or anything with #each"},
        {"[200, [['x-a']], []]", "an element of the app's headers is not a [name, value] pair"},
        {"[200, {}, [1]]", "the app's body holds a Integer, not a String"},
        {"[200, {}, 42]", "the app's body is not an Array of Strings, nor anything with #each"},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        struct fake_request f;
        booka_mruby_response_t res;
        const char *got;
        fake_request_init(&f, "/", "GET", "/");
        got = convert(t, &f, cases[i].ruby, &res);
        CHECK(got != NULL);
        if (cases[i].message != NULL)
            CHECK_STR_EQ(got, cases[i].message);
        fake_request_dispose(&f);
    }
}

int main(void)
{
    booka_mruby_thread_t *t = booka_mruby_thread_create();

    test_plain_response(t);
    test_reproxy_header_is_a_token(t);
    test_header_forms_and_dropped_headers(t);
    test_fall_through(t);
    test_each_body_is_closed(t);
    test_invalid_responses_raise(t);
    booka_mruby_thread_destroy(t);
    return unit_report("mruby_response");
}
