/* configurator.c: `mruby.handler` and `mruby.handler-file`: the code is checked at config load, then handed to the
 * handler, which compiles it again in each event loop's interpreter. */
#include <errno.h>
#include <stdio.h>
#include "mruby/internal.h"
#include "h2o/configurator.h"
#include "config/yaml_loader.h"
#include "mruby/mruby.h"

#define MAX_SOURCE_BYTES (1024 * 1024)

/* first_code_line: the line of the node's file where an inline scalar's text starts: the line after a block scalar's
 * `|` or `>` indicator, else the node's own line. Reads the file back, because the YAML node keeps no scalar style. */
static unsigned first_code_line(yoml_t *node)
{
    char file[4096], *line = NULL;
    size_t cap = 0;
    unsigned first = (unsigned)node->line + 1;
    FILE *fp;

    if (booka_yaml_node_file(node, file, sizeof(file))[0] == '\0' || (fp = fopen(file, "r")) == NULL)
        return first;
    for (size_t i = 0; i <= node->line; ++i) {
        if (getline(&line, &cap, fp) == -1) {
            free(line);
            fclose(fp);
            return first;
        }
    }
    if (strlen(line) > node->column && strchr("|>", line[node->column]) != NULL)
        ++first;
    free(line);
    fclose(fp);
    return first;
}

/* read_source: the whole of `path` into code->source. On error, -1 is returned and `err` says why. */
static int read_source(const char *path, struct booka_mruby_code *code, char *err, size_t err_size)
{
    FILE *fp = fopen(path, "rb");
    int ret = -1;

    if (fp == NULL) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    code->source = h2o_mem_alloc(MAX_SOURCE_BYTES + 1);
    code->source_len = fread(code->source, 1, MAX_SOURCE_BYTES + 1, fp);
    if (ferror(fp)) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
    } else if (code->source_len > MAX_SOURCE_BYTES) {
        snprintf(err, err_size, "%s is larger than %d bytes", path, MAX_SOURCE_BYTES);
    } else {
        code->source[code->source_len] = '\0';
        ret = 0;
    }
    fclose(fp);
    return ret;
}

/* check_and_register: compiles `code` in a scratch interpreter and, when it evaluates to something callable, adds the
 * handler to the path. Takes ownership of `code` either way. */
static int check_and_register(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node,
                              struct booka_mruby_code *code)
{
    mrb_state *mrb = booka_mruby_open();
    char err[1024];
    int ok;

    if (mrb == NULL) {
        h2o_configurator_errprintf(cmd, node, "out of memory");
        booka_mruby_code_free(code);
        return -1;
    }
    ok = !mrb_nil_p(booka_mruby_compile(mrb, code, err, sizeof(err)));
    mrb_close(mrb);
    if (!ok) {
        h2o_configurator_errprintf(cmd, node, "%s", err);
        booka_mruby_code_free(code);
        return -1;
    }
    booka_mruby_register_handler(ctx->pathconf, code);
    return 0;
}

static int on_config_handler(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    struct booka_mruby_code code = {NULL};
    char file[4096];

    code.source = h2o_strdup(NULL, node->data.scalar, SIZE_MAX).base;
    code.source_len = strlen(code.source);
    booka_yaml_node_file(node, file, sizeof(file));
    code.name = h2o_strdup(NULL, file[0] != '\0' ? file : "(config)", SIZE_MAX).base;
    code.first_line = first_code_line(node);
    code.has_column = 0; /* YAML strips the indentation, so parser columns are not the file's */
    return check_and_register(cmd, ctx, node, &code);
}

static int on_config_handler_file(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    struct booka_mruby_code code = {NULL};
    char err[1024];

    if ((code.name = booka_yaml_resolve_path(node, node->data.scalar)) == NULL) {
        h2o_configurator_errprintf(cmd, node, "out of memory");
        return -1;
    }
    if (read_source(code.name, &code, err, sizeof(err)) != 0) {
        h2o_configurator_errprintf(cmd, node, "%s", err);
        booka_mruby_code_free(&code);
        return -1;
    }
    code.first_line = 1;
    code.has_column = 1;
    return check_and_register(cmd, ctx, node, &code);
}

void booka_mruby_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    /* DEFERRED, as in H2O: handler directives run after the path's other directives, in the order they are written */
    const int flags = H2O_CONFIGURATOR_FLAG_PATH | H2O_CONFIGURATOR_FLAG_DEFERRED | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR;

    h2o_configurator_define_command(c, "mruby.handler", flags, on_config_handler);
    h2o_configurator_define_command(c, "mruby.handler-file", flags, on_config_handler_file);
}
