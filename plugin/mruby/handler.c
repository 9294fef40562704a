/* handler.c: the mruby handler: one interpreter per event loop, the app compiled into each, and a request run through
 * it (Rack env in, [status, headers, body] out; 399 falls through to the next handler). */
#include <pthread.h>
#include <mruby.h>
#include <mruby/error.h>
#include "http/http.h"
#include "mruby/internal.h"

struct mruby_handler {
    h2o_handler_t super;
    struct booka_mruby_code code;
};

/* What a handler has in one event loop: that loop's interpreter and the app compiled in it (nil when it failed). */
struct handler_context {
    booka_mruby_thread_t *thread;
    mrb_value app;
};

/*
 * Interpreters by event loop. h2o_context_get_storage would be the natural home, but it assigns its key on first use
 * and the loops initialise concurrently; this short list, touched only when a loop starts or stops, has a lock.
 */
struct loop_interpreter {
    h2o_context_t *ctx;
    booka_mruby_thread_t *thread;
    size_t refs; /* handler contexts using it */
    struct loop_interpreter *next;
};

static pthread_mutex_t interpreters_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct loop_interpreter *interpreters;

/* acquire_interpreter: the interpreter of `ctx`, created on first use; NULL when memory runs out. */
static booka_mruby_thread_t *acquire_interpreter(h2o_context_t *ctx)
{
    struct loop_interpreter *li;
    booka_mruby_thread_t *thread = NULL;

    pthread_mutex_lock(&interpreters_mutex);
    for (li = interpreters; li != NULL && li->ctx != ctx; li = li->next)
        ;
    if (li == NULL && (thread = booka_mruby_thread_create()) != NULL) {
        li = h2o_mem_alloc(sizeof(*li));
        *li = (struct loop_interpreter){ctx, thread, 0, interpreters};
        interpreters = li;
    }
    if (li != NULL) {
        ++li->refs;
        thread = li->thread;
    }
    pthread_mutex_unlock(&interpreters_mutex);
    return thread;
}

/* release_interpreter: drops one use of the interpreter of `ctx`; the last one closes it. */
static void release_interpreter(h2o_context_t *ctx)
{
    struct loop_interpreter **slot, *li;

    pthread_mutex_lock(&interpreters_mutex);
    for (slot = &interpreters; *slot != NULL && (*slot)->ctx != ctx; slot = &(*slot)->next)
        ;
    if ((li = *slot) != NULL && --li->refs == 0) {
        *slot = li->next;
        booka_mruby_thread_destroy(li->thread);
        free(li);
    }
    pthread_mutex_unlock(&interpreters_mutex);
}

static void on_context_init(h2o_handler_t *_self, h2o_context_t *ctx)
{
    struct mruby_handler *self = (void *)_self;
    struct handler_context *hctx = h2o_mem_alloc(sizeof(*hctx));
    char err[1024];
    int arena;

    hctx->app = mrb_nil_value();
    if ((hctx->thread = acquire_interpreter(ctx)) == NULL) {
        booka_log(NULL, "mruby", "%s: no interpreter for this thread (out of memory); its requests answer 500", self->code.name);
    } else {
        /* it compiled at config load; code that behaves differently now (say, it reads a file) is reported here */
        arena = mrb_gc_arena_save(hctx->thread->mrb);
        hctx->app = booka_mruby_compile(hctx->thread->mrb, &self->code, err, sizeof(err));
        if (mrb_nil_p(hctx->app))
            booka_log(NULL, "mruby", "%s; its requests answer 500", err);
        else
            mrb_gc_register(hctx->thread->mrb, hctx->app);
        mrb_gc_arena_restore(hctx->thread->mrb, arena);
    }
    h2o_context_set_handler_context(ctx, &self->super, hctx);
}

static void on_context_dispose(h2o_handler_t *_self, h2o_context_t *ctx)
{
    struct handler_context *hctx = h2o_context_get_handler_context(ctx, _self);

    if (hctx == NULL)
        return;
    if (hctx->thread != NULL) {
        if (!mrb_nil_p(hctx->app))
            mrb_gc_unregister(hctx->thread->mrb, hctx->app);
        release_interpreter(ctx);
    }
    free(hctx);
}

static void on_dispose(h2o_handler_t *_self)
{
    struct mruby_handler *self = (void *)_self;
    booka_mruby_code_free(&self->code);
}

/* A request's trip through the app, run under mrb_protect_error so that whatever raises lands in one place. */
struct app_call {
    struct handler_context *hctx;
    h2o_req_t *req;
    booka_mruby_response_t response;
};

static mrb_value call_app(mrb_state *mrb, void *data)
{
    struct app_call *call = data;
    booka_mruby_thread_t *t = call->hctx->thread;
    mrb_value env = booka_mruby_build_env(t, call->req);
    mrb_value response = mrb_funcall_argv(mrb, call->hctx->app, t->sym_call, 1, &env);

    booka_mruby_read_response(t, call->req, response, &call->response);
    return mrb_nil_value();
}

/* send_internal_error: what the client gets when the app raised (the details go to the log only). */
static void send_internal_error(h2o_req_t *req)
{
    req->res.headers = (h2o_headers_t){NULL}; /* whatever the app had set before it raised */
    booka_http_send_error_message(req, 500, "Internal Server Error", "internal server error");
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    struct mruby_handler *self = (void *)_self;
    struct app_call call = {h2o_context_get_handler_context(req->conn->ctx, &self->super), req};
    mrb_state *mrb;
    mrb_value exc;
    mrb_bool failed;
    char what[1024];
    int arena, ret = 0;

    if (call.hctx->thread == NULL || mrb_nil_p(call.hctx->app)) {
        booka_log(req, "mruby", "%s: the app is not loaded in this thread (see the start-up log)", self->code.name);
        send_internal_error(req);
        return 0;
    }
    mrb = call.hctx->thread->mrb;
    arena = mrb_gc_arena_save(mrb);
    exc = mrb_protect_error(mrb, call_app, &call, &failed);
    if (!failed && mrb->exc != NULL) {
        exc = mrb_obj_value(mrb->exc);
        failed = 1;
    }
    mrb->exc = NULL;
    if (failed) {
        booka_log(req, "mruby", "%s raised: %s", self->code.name, booka_mruby_describe_exception(mrb, exc, what, sizeof(what)));
        send_internal_error(req);
    } else if (call.response.status == BOOKA_MRUBY_STATUS_FALLTHROUGH) {
        ret = -1; /* the next handler of this path; the headers the app set stay in the response */
    } else {
        booka_http_send(req, call.response.status, booka_http_reason(call.response.status), NULL, call.response.body);
    }
    mrb_gc_arena_restore(mrb, arena); /* everything the request created is garbage now (the body is in req->pool) */
    return ret;
}

void booka_mruby_register_handler(h2o_pathconf_t *pathconf, struct booka_mruby_code *code)
{
    struct mruby_handler *self = (void *)h2o_create_handler(pathconf, sizeof(*self));

    self->super.on_context_init = on_context_init;
    self->super.on_context_dispose = on_context_dispose;
    self->super.dispose = on_dispose;
    self->super.on_req = on_req;
    self->code = *code;
    *code = (struct booka_mruby_code){NULL};
    booka_http_attach(pathconf);
}
