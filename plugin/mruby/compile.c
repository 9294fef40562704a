/* compile.c: an interpreter with the module's Ruby helpers, and ruby source turned into the callable a handler calls. */
#include <stdio.h>
#include <mruby.h>
#include <mruby/compile.h>
#include <mruby/error.h>
#include <mruby/proc.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include "mruby/internal.h"

/* The Ruby side of the handler: what is simpler to say in Ruby than through the C API. Loaded into every interpreter
 * before any handler code, at config load and in each thread alike. */
static const char helpers_source[] =
    "module BookaMruby\n"
    "  # each_to_array: what #each yields (a Rack body's chunks, a headers object's pairs)\n"
    "  def self.each_to_array(source)\n"
    "    items = []\n"
    "    source.each { |item| items << item }\n"
    "    items\n"
    "  end\n"
    "\n"
    "  # body_chunks: what a Rack body yields, and the body closed afterwards whatever happens (Rack)\n"
    "  def self.body_chunks(body)\n"
    "    each_to_array(body)\n"
    "  ensure\n"
    "    body.close if body.respond_to?(:close)\n"
    "  end\n"
    "\n"
    "  # describe: one line for the log; frames without a file (mruby's own library code) say nothing\n"
    "  def self.describe(e)\n"
    "    where = (e.backtrace || []).reject { |frame| frame.start_with?(\"(unknown)\") }\n"
    "    \"#{e.message} (#{e.class})\" + (where.empty? ? \"\" : \" at \" + where.join(\" <- \"))\n"
    "  end\n"
    "\n"
    "  # rack.input over the request body: read, gets, each, rewind (byte offsets; Debian's mruby strings are bytes)\n"
    "  class RackInput\n"
    "    def initialize(data)\n"
    "      @data = data\n"
    "      @pos = 0\n"
    "    end\n"
    "\n"
    "    def read(length = nil, buffer = nil)\n"
    "      rest = @data.bytesize - @pos\n"
    "      return nil if rest == 0 && !length.nil? && length > 0\n"
    "      n = length.nil? || length > rest ? rest : length\n"
    "      chunk = @data.byteslice(@pos, n)\n"
    "      @pos += n\n"
    "      buffer.nil? ? chunk : buffer.replace(chunk)\n"
    "    end\n"
    "\n"
    "    def gets\n"
    "      return nil if @pos >= @data.bytesize\n"
    "      eol = @data.index(\"\\n\", @pos)\n"
    "      read(eol.nil? ? @data.bytesize - @pos : eol - @pos + 1)\n"
    "    end\n"
    "\n"
    "    def each\n"
    "      while (line = gets)\n"
    "        yield line\n"
    "      end\n"
    "      self\n"
    "    end\n"
    "\n"
    "    def rewind\n"
    "      @pos = 0\n"
    "    end\n"
    "  end\n"
    "end\n";

void booka_mruby_code_free(struct booka_mruby_code *code)
{
    free(code->source);
    free(code->name);
    *code = (struct booka_mruby_code){NULL};
}

const char *booka_mruby_describe_exception(mrb_state *mrb, mrb_value exc, char *buf, size_t size)
{
    struct RObject *pending = mrb->exc;
    int arena = mrb_gc_arena_save(mrb);
    mrb_value helper, text;

    mrb->exc = NULL;
    text = mrb_nil_value();
    if (mrb_const_defined(mrb, mrb_obj_value(mrb->object_class), mrb_intern_lit(mrb, "BookaMruby"))) {
        helper = mrb_obj_value(mrb_module_get(mrb, "BookaMruby"));
        /* outside any mrb_protect, mrb_funcall catches what the call raises and leaves it in mrb->exc */
        text = mrb_funcall_argv(mrb, helper, mrb_intern_lit(mrb, "describe"), 1, &exc);
    }
    if (mrb->exc == NULL && mrb_string_p(text))
        snprintf(buf, size, "%.*s", (int)RSTRING_LEN(text), RSTRING_PTR(text));
    else
        snprintf(buf, size, "%s (its message could not be read)", mrb_obj_classname(mrb, exc));
    mrb->exc = pending;
    mrb_gc_arena_restore(mrb, arena);
    return buf;
}

/* report_parse_error: the first syntax error as "FILE:LINE[:COLUMN]: message". */
static void report_parse_error(const struct booka_mruby_code *code, struct mrb_parser_state *parser, char *err, size_t err_size)
{
    const struct mrb_parser_message *m = &parser->error_buffer[0];
    if (code->has_column)
        snprintf(err, err_size, "%s:%u:%d: %s", code->name, (unsigned)m->lineno, m->column,
                 m->message ? m->message : "syntax error");
    else
        snprintf(err, err_size, "%s:%u: %s", code->name, (unsigned)m->lineno, m->message ? m->message : "syntax error");
}

/* run_toplevel: runs compiled code as a block, with the top-level self and Object as the class `def` and `class`
 * define in. Not in the top-level frame as mrb_load_exec would: that frame never returns, so its local variables would
 * stay on the VM stack, and the Procs a snippet returns would find them overwritten by whatever runs next. A block's
 * frame returns, and mruby moves the variables its closures captured off the stack. */
static mrb_value run_toplevel(mrb_state *mrb, void *proc)
{
    return mrb_yield_with_class(mrb, *(mrb_value *)proc, 0, NULL, mrb_top_self(mrb), mrb->object_class);
}

/* load: parses and runs `code`, leaving its value in *result. On error, -1 is returned and `err` says what and where. */
static int load(mrb_state *mrb, const struct booka_mruby_code *code, mrb_value *result, char *err, size_t err_size)
{
    mrbc_context *cxt;
    struct mrb_parser_state *parser;
    mrb_value proc;
    mrb_bool failed;
    char what[512];
    int ret = -1;

    if ((cxt = mrbc_context_new(mrb)) == NULL) {
        snprintf(err, err_size, "%s: out of memory", code->name);
        return -1;
    }
    mrbc_filename(mrb, cxt, code->name);
    cxt->lineno = (uint16_t)code->first_line;
    cxt->capture_errors = 1;
    cxt->no_exec = 1;
    if ((parser = mrb_parse_nstring(mrb, code->source, code->source_len, cxt)) == NULL) {
        snprintf(err, err_size, "%s: out of memory", code->name);
        goto Exit;
    }
    if (parser->nerr != 0) {
        report_parse_error(code, parser, err, err_size);
        mrb_parser_free(parser);
        goto Exit;
    }
    proc = mrb_load_exec(mrb, parser, cxt); /* with no_exec: generates the code, frees the parser, runs nothing */
    if (mrb->exc != NULL || !mrb_proc_p(proc)) {
        snprintf(err, err_size, "%s:%u: cannot generate code: %s", code->name, code->first_line,
                 mrb->exc != NULL ? booka_mruby_describe_exception(mrb, mrb_obj_value(mrb->exc), what, sizeof(what)) : "?");
        mrb->exc = NULL;
        goto Exit;
    }
    *result = mrb_protect_error(mrb, run_toplevel, &proc, &failed);
    if (failed) {
        snprintf(err, err_size, "%s:%u: raised while loading: %s", code->name, code->first_line,
                 booka_mruby_describe_exception(mrb, *result, what, sizeof(what)));
        goto Exit;
    }
    ret = 0;
Exit:
    mrbc_context_free(mrb, cxt);
    return ret;
}

mrb_state *booka_mruby_open(void)
{
    const struct booka_mruby_code helpers = {(char *)helpers_source, sizeof(helpers_source) - 1, "(booka mruby helpers)", 1, 1};
    mrb_state *mrb = mrb_open();
    mrb_value ignored;
    char err[256];

    if (mrb == NULL)
        return NULL;
    if (load(mrb, &helpers, &ignored, err, sizeof(err)) != 0) { /* only when memory runs out: the helpers are fixed */
        mrb_close(mrb);
        return NULL;
    }
    return mrb;
}

mrb_value booka_mruby_compile(mrb_state *mrb, const struct booka_mruby_code *code, char *err, size_t err_size)
{
    mrb_value app;

    if (load(mrb, code, &app, err, err_size) != 0)
        return mrb_nil_value();
    if (!mrb_respond_to(mrb, app, mrb_intern_lit(mrb, "call"))) {
        snprintf(err, err_size,
                 "%s:%u: the code evaluates to %s, which does not respond to #call (expected a Proc or a "
                 "Rack app)",
                 code->name, code->first_line, mrb_nil_p(app) ? "nil" : mrb_obj_classname(mrb, app));
        return mrb_nil_value();
    }
    return app;
}
