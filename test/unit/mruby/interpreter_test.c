/* interpreter_test.c: our build of the mruby headers agrees with Debian's libmruby.a (boxing, integer width, the
 * mrb_state fields we read inline), and an interpreter stays usable after exceptions. */
#include <stdint.h>
#include <mruby.h>
#include <mruby/array.h>
#include <mruby/compile.h>
#include <mruby/error.h>
#include <mruby/string.h>
#include "mruby/internal.h"
#include "unit.h"

/* eval: runs `src` and returns its value; mrb->exc is left for the caller to look at. */
static mrb_value eval(mrb_state *mrb, const char *src)
{
    return mrb_load_string(mrb, src);
}

static void test_values_round_trip(void)
{
    mrb_state *mrb = mrb_open();
    mrb_value v, args[2];

    /* word boxing on 64-bit: one machine word per value */
    CHECK_INT_EQ(sizeof(mrb_value), sizeof(void *));
    /* MRB_INT64: the library's integers are 64-bit, both ways */
    v = eval(mrb, "9223372036854775807");
    CHECK(mrb_integer_p(v));
    CHECK(mrb_integer(v) == INT64_MAX);
    args[0] = mrb_int_value(mrb, INT64_MAX - 1);
    v = mrb_funcall_argv(mrb, args[0], mrb_intern_lit(mrb, "+"), 1, (mrb_value[]){mrb_int_value(mrb, 1)});
    CHECK(mrb_integer(v) == INT64_MAX);
    v = mrb_funcall_argv(mrb, mrb_int_value(mrb, -5), mrb_intern_lit(mrb, "abs"), 0, NULL);
    CHECK_INT_EQ(mrb_integer(v), 5);
    /* floats (boxed in word boxing) */
    v = mrb_funcall_argv(mrb, mrb_float_value(mrb, 1.5), mrb_intern_lit(mrb, "*"), 1, (mrb_value[]){mrb_float_value(mrb, 2.0)});
    CHECK(mrb_float_p(v) && mrb_float(v) == 3.0);
    /* strings with NUL bytes keep their length; the library sees what we built */
    args[0] = mrb_str_new(mrb, "a\0b", 3);
    v = mrb_funcall_argv(mrb, args[0], mrb_intern_lit(mrb, "bytesize"), 0, NULL);
    CHECK_INT_EQ(mrb_integer(v), 3);
    v = eval(mrb, "'x' * 3 + \"\\0\"");
    CHECK(mrb_string_p(v) && RSTRING_LEN(v) == 4 && memcmp(RSTRING_PTR(v), "xxx\0", 4) == 0);
    /* symbols interned from C and from Ruby are the same */
    v = eval(mrb, ":call");
    CHECK(mrb_symbol_p(v) && mrb_symbol(v) == mrb_intern_lit(mrb, "call"));
    /* immediates */
    CHECK(mrb_nil_p(eval(mrb, "nil")));
    CHECK(mrb_true_p(eval(mrb, "1 == 1")));
    CHECK(mrb_false_p(eval(mrb, "1 == 2")));
    /* arrays */
    v = eval(mrb, "[1, 'two', :three]");
    CHECK(mrb_array_p(v) && RARRAY_LEN(v) == 3 && mrb_string_p(mrb_ary_entry(v, 1)));
    /* Debian's mruby has no Regexp: the snippets must not need it */
    CHECK(mrb_false_p(eval(mrb, "Object.const_defined?(:Regexp)")));
    mrb_close(mrb);
}

static void test_state_fields_read_inline(void)
{
    mrb_state *mrb = mrb_open();
    int arena = mrb_gc_arena_save(mrb);

    /* mrb_gc_arena_save reads mrb->gc.arena_idx in our compilation unit; the library's allocations move it */
    for (int i = 0; i != 10; ++i)
        mrb_str_new_lit(mrb, "x");
    CHECK_INT_EQ(mrb_gc_arena_save(mrb), arena + 10);
    mrb_gc_arena_restore(mrb, arena);
    CHECK_INT_EQ(mrb_gc_arena_save(mrb), arena);
    /* mrb->exc is where the library leaves an exception */
    CHECK(mrb->exc == NULL);
    eval(mrb, "raise ArgumentError, 'boom'");
    CHECK(mrb->exc != NULL);
    CHECK_STR_EQ(mrb_obj_classname(mrb, mrb_obj_value(mrb->exc)), "ArgumentError");
    mrb->exc = NULL;
    mrb_close(mrb);
}

/* raise_in_ruby: calls `data` (a Proc that raises deep in Ruby) the way the handler calls an app */
static mrb_value raise_in_ruby(mrb_state *mrb, void *data)
{
    mrb_value arg = mrb_int_value(mrb, 50);
    return mrb_funcall_argv(mrb, *(mrb_value *)data, mrb_intern_lit(mrb, "call"), 1, &arg);
}

static mrb_value raise_from_c(mrb_state *mrb, void *data)
{
    mrb_raise(mrb, E_TYPE_ERROR, "from C");
    return mrb_nil_value();
}

static void test_usable_after_exceptions(void)
{
    booka_mruby_thread_t *t = booka_mruby_thread_create();
    mrb_state *mrb = t->mrb;
    int arena = mrb_gc_arena_save(mrb);
    mrb_bool failed;
    mrb_value v;

    mrb_value deep = eval(mrb, "deep = lambda { |n| n == 0 ? raise('deep') : deep.call(n - 1) }");

    mrb_gc_register(mrb, deep);
    for (int i = 0; i != 2000; ++i) {
        v = mrb_protect_error(mrb, i % 2 ? raise_in_ruby : raise_from_c, &deep, &failed);
        CHECK(failed);
        mrb->exc = NULL;
        mrb_gc_arena_restore(mrb, arena);
    }
    CHECK_STR_EQ(mrb_obj_classname(mrb, v), "RuntimeError");
    v = eval(mrb, "[1, 2, 3].map { |x| x * 2 }.inject(:+)");
    CHECK(mrb->exc == NULL);
    CHECK_INT_EQ(mrb_integer(v), 12);
    mrb_gc_arena_restore(mrb, arena);
    booka_mruby_thread_destroy(t);
}

static void test_thread_interpreter(void)
{
    booka_mruby_thread_t *t = booka_mruby_thread_create();
    mrb_value key;

    CHECK(t != NULL);
    CHECK(mrb_array_p(t->keys));
    key = mrb_ary_entry(t->keys, BOOKA_MRUBY_KEY_PATH_INFO);
    CHECK(mrb_string_p(key) && mrb_frozen_p(mrb_basic_ptr(key)));
    CHECK(RSTRING_LEN(key) == 9 && memcmp(RSTRING_PTR(key), "PATH_INFO", 9) == 0);
    CHECK(mrb_true_p(eval(t->mrb, "BookaMruby.respond_to?(:body_chunks)")));
    booka_mruby_thread_destroy(t);
}

int main(void)
{
    test_values_round_trip();
    test_state_fields_read_inline();
    test_usable_after_exceptions();
    test_thread_interpreter();
    return unit_report("mruby_interpreter");
}
