/* compile_test.c: booka_mruby_compile: what compiles to a callable, and the file:line of what does not. */
#include <mruby.h>
#include <mruby/array.h>
#include <mruby/compile.h>
#include <mruby/string.h>
#include "mruby/internal.h"
#include "unit.h"

/* compile: `source` named `name`, starting at `first_line`; returns whether it gave a callable, `err` otherwise. */
static int compile(mrb_state *mrb, const char *name, unsigned first_line, int has_column, const char *source, char *err,
                   size_t err_size)
{
    struct booka_mruby_code code = {(char *)source, strlen(source), (char *)name, first_line, has_column};
    int arena = mrb_gc_arena_save(mrb);
    mrb_value app;

    err[0] = '\0';
    app = booka_mruby_compile(mrb, &code, err, err_size);
    mrb_gc_arena_restore(mrb, arena);
    CHECK(mrb->exc == NULL);
    return !mrb_nil_p(app);
}

static void test_callables(void)
{
    mrb_state *mrb = booka_mruby_open();
    char err[1024];

    CHECK(compile(mrb, "a.rb", 1, 1, "Proc.new { |env| [200, {}, ['ok']] }", err, sizeof(err)));
    CHECK(compile(mrb, "a.rb", 1, 1, "lambda { |env| [200, {}, []] }", err, sizeof(err)));
    CHECK(compile(mrb, "a.rb", 1, 1,
                  "class App\n"
                  "  def call(env)\n"
                  "    [200, {}, []]\n"
                  "  end\n"
                  "end\n"
                  "App.new\n",
                  err, sizeof(err)));
    /* local variables of the file are captured by the proc, not shared with other handlers */
    CHECK(compile(mrb, "a.rb", 1, 1, "table = ['/a']\nProc.new { |env| [table.include?(env['PATH_INFO']) ? 200 : 399, {}, []] }",
                  err, sizeof(err)));
    mrb_close(mrb);
}

static void test_errors_name_file_and_line(void)
{
    mrb_state *mrb = booka_mruby_open();
    char err[1024];

    /* a file: line and column of the first syntax error */
    CHECK(!compile(mrb, "mruby/rewrites.rb", 1, 1, "x = 1\nProc.new do |env|\n  [200, {}, [\n end\n", err, sizeof(err)));
    CHECK(strncmp(err, "mruby/rewrites.rb:4:", 20) == 0);
    CHECK(strstr(err, "syntax error") != NULL);
    /* inline code: lines counted from where the code starts in the config file, no column */
    CHECK(!compile(mrb, "h2o.conf", 12, 0, "Proc.new do |env|\n  [200, {}, []\nend\n", err, sizeof(err)));
    CHECK(strncmp(err, "h2o.conf:14: ", 13) == 0);
    /* raising while loading */
    CHECK(!compile(mrb, "boom.rb", 1, 1, "\n\nraise 'boom at load'\n", err, sizeof(err)));
    CHECK(strstr(err, "boom.rb:1: raised while loading: boom at load (RuntimeError) at boom.rb:3") != NULL);
    /* something that cannot be called */
    CHECK(!compile(mrb, "n.rb", 1, 1, "42", err, sizeof(err)));
    CHECK_STR_EQ(err, "n.rb:1: the code evaluates to Integer, which does not respond to #call (expected a Proc or a Rack app)");
    CHECK(!compile(mrb, "n.rb", 1, 1, "", err, sizeof(err)));
    CHECK(strstr(err, "evaluates to nil") != NULL);
    /* the interpreter is still fine */
    CHECK(compile(mrb, "a.rb", 1, 1, "proc { |env| [200, {}, []] }", err, sizeof(err)));
    mrb_close(mrb);
}

static void test_describe_exception(void)
{
    mrb_state *mrb = booka_mruby_open();
    char buf[256];
    mrb_value exc;

    mrb_load_string(mrb, "class Weird < StandardError\n  def message\n    raise 'no message'\n  end\nend\nraise Weird");
    exc = mrb_obj_value(mrb->exc);
    mrb->exc = NULL;
    CHECK_STR_EQ(booka_mruby_describe_exception(mrb, exc, buf, sizeof(buf)), "Weird (its message could not be read)");
    CHECK(mrb->exc == NULL);
    mrb_close(mrb);
}

/* compile_kept: like compile, the callable kept (GC-registered) for the caller. */
static mrb_value compile_kept(mrb_state *mrb, const char *source)
{
    struct booka_mruby_code code = {(char *)source, strlen(source), "kept.rb", 1, 1};
    char err[1024];
    mrb_value app = booka_mruby_compile(mrb, &code, err, sizeof(err));
    mrb_gc_register(mrb, app);
    return app;
}

static void test_captured_locals_survive(void)
{
    mrb_state *mrb = booka_mruby_open();
    mrb_value first, second, got;

    /* every handler of a thread is compiled into the same interpreter, one after the other, then called from C */
    first = compile_kept(mrb, "table = ['/a', '/b']\nsuffix = '/'\nProc.new { |path| table.include?(path) ? path + suffix : nil }");
    second = compile_kept(mrb, "x = 1\ny = 2\nz = 3\nProc.new { |ignored| [x, y, z] }");
    for (int i = 0; i != 3; ++i) {
        got = mrb_funcall_argv(mrb, first, mrb_intern_lit(mrb, "call"), 1, (mrb_value[]){mrb_str_new_lit(mrb, "/b")});
        CHECK(mrb->exc == NULL && mrb_string_p(got) && RSTRING_LEN(got) == 3 && memcmp(RSTRING_PTR(got), "/b/", 3) == 0);
        got = mrb_funcall_argv(mrb, second, mrb_intern_lit(mrb, "call"), 1, (mrb_value[]){mrb_nil_value()});
        CHECK(mrb->exc == NULL && mrb_array_p(got) && RARRAY_LEN(got) == 3 && mrb_integer(mrb_ary_entry(got, 2)) == 3);
        mrb_full_gc(mrb);
    }
    mrb->exc = NULL;
    mrb_close(mrb);
}

int main(void)
{
    test_callables();
    test_errors_name_file_and_line();
    test_describe_exception();
    test_captured_locals_survive();
    return unit_report("mruby_compile");
}
