/* health.c: the liveness and readiness handlers. */
#include "health/health.h"
#include "http/http.h"
#include "http/json.h"

struct dependency {
    const char *name;
    int required;
    booka_dependency_state_cb is_up;
    void *data;
};

static H2O_VECTOR(struct dependency) dependencies;

struct detail {
    const char *name;
    booka_health_detail_cb write;
    void *data;
};

static H2O_VECTOR(struct detail) details;

typedef void (*context_init_cb)(h2o_context_t *ctx);
static H2O_VECTOR(context_init_cb) context_inits;

void booka_health_add_context_init(void (*init)(h2o_context_t *ctx))
{
    for (size_t i = 0; i != context_inits.size; ++i)
        if (context_inits.entries[i] == init)
            return;
    h2o_vector_reserve(NULL, &context_inits, context_inits.size + 1);
    context_inits.entries[context_inits.size++] = init;
}

static void on_readyz_context_init(h2o_handler_t *self, h2o_context_t *ctx)
{
    for (size_t i = 0; i != context_inits.size; ++i)
        context_inits.entries[i](ctx);
}

void booka_health_add_dependency(const char *name, int required, booka_dependency_state_cb is_up, void *data)
{
    for (size_t i = 0; i != dependencies.size; ++i) {
        if (strcmp(dependencies.entries[i].name, name) == 0) {
            /* added by several handlers: required when any of them requires it, whatever the order of the paths */
            dependencies.entries[i].required |= required;
            return;
        }
    }
    h2o_vector_reserve(NULL, &dependencies, dependencies.size + 1);
    dependencies.entries[dependencies.size++] = (struct dependency){name, required, is_up, data};
}

void booka_health_add_detail(const char *name, booka_health_detail_cb write, void *data)
{
    for (size_t i = 0; i != details.size; ++i)
        if (strcmp(details.entries[i].name, name) == 0)
            return;
    h2o_vector_reserve(NULL, &details, details.size + 1);
    details.entries[details.size++] = (struct detail){name, write, data};
}

static void send_no_store_json(h2o_req_t *req, int status, const char *reason, booka_buf_t *body)
{
    h2o_iovec_t copy = h2o_strdup(&req->pool, body->base, body->len);
    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("cache-control"), 0, H2O_STRLIT("no-store"), 1);
    booka_http_send(req, status, reason, "application/json", copy);
}

static int on_healthz(h2o_handler_t *self, h2o_req_t *req)
{
    static const booka_buf_t ok = {"{\"status\": \"ok\"}", 16, 16};
    if (booka_http_answer_preflight(req))
        return 0;
    send_no_store_json(req, 200, "OK", (booka_buf_t *)&ok);
    return 0;
}

static int on_readyz(h2o_handler_t *self, h2o_req_t *req)
{
    booka_buf_t body = {NULL};
    int ready = 1;

    if (booka_http_answer_preflight(req))
        return 0;
    booka_buf_append_str(&body, "{");
    for (size_t i = 0; i != dependencies.size; ++i) {
        struct dependency *d = dependencies.entries + i;
        int up = d->is_up(req->conn->ctx, d->data);
        if (!up && d->required)
            ready = 0;
        booka_buf_appendf(&body, "%s\"%s\": \"%s\"", i == 0 ? "" : ", ", d->name, up ? "up" : "down");
    }
    for (size_t i = 0; i != details.size; ++i) {
        booka_buf_appendf(&body, "%s\"%s\": ", i == 0 && dependencies.size == 0 ? "" : ", ", details.entries[i].name);
        details.entries[i].write(&body, details.entries[i].data);
    }
    booka_buf_append_str(&body, "}");
    booka_buf_or_abort(&body); /* a few names and numbers: memory running out aborts (http/json.h) */
    send_no_store_json(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", &body);
    booka_buf_free(&body);
    return 0;
}

/* on_config_switch: a path directive `ON` installs `on_req` there (with the shared response headers). */
static int on_config_switch(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node,
                            int (*on_req)(h2o_handler_t *, h2o_req_t *), void (*on_context_init)(h2o_handler_t *, h2o_context_t *))
{
    ssize_t on = h2o_configurator_get_one_of(cmd, node, "OFF,ON");
    if (on == -1)
        return -1;
    if (on) {
        h2o_handler_t *handler = h2o_create_handler(ctx->pathconf, sizeof(*handler));
        handler->on_req = on_req;
        handler->on_context_init = on_context_init;
        booka_http_attach(ctx->pathconf);
    }
    return 0;
}

static int on_config_health(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    return on_config_switch(cmd, ctx, node, on_healthz, NULL);
}

static int on_config_readiness(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    return on_config_switch(cmd, ctx, node, on_readyz, on_readyz_context_init);
}

void booka_health_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    /* deferred, like H2O's own handler directives, so the handlers of one path run in the order the YAML gives */
    const int flags = H2O_CONFIGURATOR_FLAG_PATH | H2O_CONFIGURATOR_FLAG_DEFERRED | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR;
    h2o_configurator_define_command(c, "booka.health", flags, on_config_health);
    h2o_configurator_define_command(c, "booka.readiness", flags, on_config_readiness);
}
