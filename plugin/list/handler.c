/* handler.c: GET/HEAD /api/v1/service-provider-profiles/ as four steps: parse the query into a list_request_t, take its
 * canonical key, fetch the body from Postgres (list_fetch), send it. A cache goes between the key and the fetch. */
#include <inttypes.h>
#include <stdlib.h>
#include "cache/invalidate.h"
#include "cache/redis.h"
#include "db/answer.h"
#include "edge/edge.h"
#include "health/health.h"
#include "http/etag.h"
#include "http/http.h"
#include "list/avatar_token.h"
#include "list/handler.h"

struct list_fetch {
    h2o_context_t *ctx;
    list_request_t request;
    booka_trace_t *trace;
    list_fetch_cb cb;
    void *data;
    booka_db_query_t *query;
};

/* fetch_answer: hands the response for `status` (and, with BOOKA_DB_OK, the rendered body) to the fetch's callback; a
 * failure is logged once per fetch (requests coalesced on it share the line's request id, the one that started it). */
static void fetch_answer(list_fetch_t *f, booka_db_status_t status, PGresult *const *results, size_t num_results)
{
    booka_buf_t body = {NULL};
    booka_db_answer_t a = booka_db_answer(f->ctx, status);
    list_response_t r = {a.status, a.body};
    const char *why = booka_db_status_message(status);

    if (status == BOOKA_DB_OK) {
        if (list_render(&f->request, results, num_results, &body) == 0) {
            r.body = h2o_iovec_init(body.base, body.len);
        } else if (body.oom) { /* the body's size is the stored rows': a graceful 503 (http/json.h, out of memory) */
            r = (list_response_t){503, h2o_iovec_init(H2O_STRLIT("{\"detail\": \"" BOOKA_OUT_OF_MEMORY "\"}"))};
            why = "out of memory for the response body";
        } else {
            a = booka_db_answer(f->ctx, BOOKA_DB_QUERY_ERROR);
            r = (list_response_t){a.status, a.body};
            why = "the query's results do not have the expected shape";
        }
    }
    if (r.status != 200)
        booka_log_id(f->trace->request_id, "list", "answering %d: %s", r.status, why);
    f->cb(f->data, &r);
    booka_buf_free(&body);
    free(f);
}

static void on_query_done(void *data, booka_db_status_t status, PGresult *const *results, size_t num_results)
{
    fetch_answer(data, status, results, num_results);
}

list_fetch_t *list_fetch(h2o_context_t *ctx, const list_request_t *req, booka_trace_t *trace, list_fetch_cb cb, void *data)
{
    list_fetch_t *f = h2o_mem_alloc(sizeof(*f));
    list_sql_t sql;
    booka_db_status_t status;

    *f = (list_fetch_t){ctx, *req, trace, cb, data, NULL};
    list_sql_build(req, &sql);
    f->query = booka_db_query_new(sql.statements, sql.num_statements, BOOKA_DB_READ_ONLY, on_query_done, f);
    list_sql_dispose(&sql);
    booka_db_query_trace(f->query, trace);
    if ((status = booka_db_submit(ctx, f->query)) != BOOKA_DB_OK) {
        fetch_answer(f, status, NULL, 0);
        return NULL;
    }
    return f;
}

void list_fetch_abandon(list_fetch_t *f)
{
    booka_db_query_abandon(f->query);
    free(f);
}

/* ---- the cache between the key and the fetch ---- */

/* on_fill_fetched: the database's answer becomes the cache fill's result; a 200 gets its ETag from the body bytes. */
static void on_fill_fetched(void *data, const list_response_t *res)
{
    booka_cache_fill_t *fill = data;
    char etag[BOOKA_ETAG_MAX];
    h2o_iovec_t tag = h2o_iovec_init(etag, 0);

    if (res->status == 200)
        tag.len = booka_etag_of_body(res->body.base, res->body.len, 1, etag);
    booka_cache_fill_done(fill, res->status, res->body, tag, h2o_iovec_init(H2O_STRLIT("application/json")));
}

/* fill_from_database: the cache's fill function. The request copy is the lookup's own, since a fill may outlive the
 * request that started it; the fetch is never abandoned, so its result is always cached. */
static void fill_from_database(h2o_context_t *ctx, booka_cache_fill_t *fill, void *arg)
{
    list_fetch(ctx, arg, booka_cache_fill_trace(fill), on_fill_fetched, fill);
}

/* cache_key: v1:list:<epoch>:<generation>:[k<key id>:]<canonical request>. The generation moves on every write
 * (cache/invalidate.h), so a write is visible at the next request; with a read replica, only once the replica has
 * replayed the write or reads go to the primary (booka_db_read_generation); the epoch tells databases apart; the key id,
 * when avatar URLs are signed, tells signing keys apart (a body carries signatures: an instance with another key must
 * not serve it); the canonical form makes equivalent URLs share one entry. */
static void cache_key_prefix(booka_buf_t *key)
{
    const booka_avatar_signer_t *signer = booka_avatar_url_signer();

    booka_buf_append_str(key, "v1:list:");
    booka_buf_append_hex(key, atomic_load(&booka_cache_epoch), 16);
    booka_buf_append_str(key, ":");
    booka_buf_append_uint(key, booka_db_read_generation(atomic_load(&booka_cache_generation)));
    booka_buf_append_str(key, ":");
    if (signer != NULL) {
        booka_buf_append_str(key, "k");
        booka_buf_append_str(key, booka_avatar_signer_id(signer));
        booka_buf_append_str(key, ":");
    }
}

/* cache_key: bounded by the query string's BOOKA_QUERY_MAX bytes: memory running out aborts (http/json.h) */
static void cache_key(const list_request_t *request, booka_buf_t *key)
{
    cache_key_prefix(key);
    list_request_canonical(request, key);
    booka_buf_or_abort(key);
}

/* parse_query: the request and its cache key for a query string: remembered by this thread (memo.c) or parsed and then
 * remembered. Answers the client itself (414, 422) and returns -1 when the request ends here. */
static int parse_query(h2o_req_t *req, const char *query, size_t query_len, list_request_t *request, booka_buf_t *key)
{
    const list_memo_entry_t *memo = list_memo_get(query, query_len);
    booka_buf_t errors = {NULL};
    size_t prefix_len;

    if (memo != NULL) {
        *request = memo->request;
        cache_key_prefix(key);
        booka_buf_append(key, memo->canonical.base, memo->canonical.len);
        goto Done;
    }
    switch (list_request_parse(request, query, query_len, &errors)) {
    case LIST_PARSE_OK:
        break;
    case LIST_PARSE_TOO_LONG:
        booka_http_send_query_too_long(req);
        return -1;
    case LIST_PARSE_INVALID:
        booka_http_send_validation_errors(req, &errors);
        return -1;
    }
    cache_key_prefix(key);
    prefix_len = key->len;
    list_request_canonical(request, key);
    booka_buf_or_abort(key);
    list_memo_put(query, query_len, request, key->base + prefix_len, key->len - prefix_len);
Done:
    booka_buf_or_abort(key); /* bounded by the query string's BOOKA_QUERY_MAX bytes (http/json.h) */
    return 0;
}

/* ---- HTTP ---- */

/* list_http_request: lives in the request's pool; its disposal (the client went away, or the response is done) abandons
 * the lookup and drops the cached value the response was sent from. */
struct list_http_request {
    h2o_req_t *req;
    list_handler_t *handler;
    booka_cache_lookup_t *lookup;
    booka_cache_value_t *value;
    const booka_edge_tags_t *edge_tags; /* the cache tags of the request's category, built once per category */
};

/* send_cached: the answer, with the headers of API.md's caching section; a 200 whose ETag the client holds is a 304 with
 * the same headers and no body. The body is sent from the cached value itself, held until the request is disposed. */
static void send_cached(struct list_http_request *r, booka_cache_outcome_t outcome, booka_cache_value_t *v)
{
    h2o_req_t *req = r->req;
    const char *x_cache = booka_cache_outcome_names[outcome];

    r->value = v;
    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-cache"), 0, x_cache, strlen(x_cache), 1);
    if (v->status != 200) {
        booka_db_send_error_body(req, v->status, v->body);
        return;
    }
    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("cache-control"), 0, r->handler->cache_control.base,
                          r->handler->cache_control.len, 1);
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, v->etag.base, v->etag.len, 1);
    booka_edge_set_tags(req, r->edge_tags);
    if (booka_etag_request_matches(req, v->etag))
        booka_http_send(req, 304, "Not Modified", NULL, h2o_iovec_init(NULL, 0));
    else
        booka_http_send(req, 200, "OK", "application/json", v->body);
}

static void on_cached(void *data, booka_cache_outcome_t outcome, booka_cache_value_t *value, const booka_trace_t *trace)
{
    struct list_http_request *r = data;
    r->lookup = NULL;
    booka_trace_export(r->req, trace);
    send_cached(r, outcome, value);
}

static void on_request_dispose(void *data)
{
    struct list_http_request *r = data;
    booka_cache_abandon(r->lookup);
    booka_cache_value_release(r->value);
}

/* serves_path: the list is the path itself (with or without the trailing slash); paths below it are JSON 404s. */
static int serves_path(h2o_req_t *req)
{
    h2o_iovec_t conf = req->pathconf->path, path = req->path_normalized;
    size_t rest;

    if (path.len < conf.len)
        return path.len + 1 == conf.len && conf.base[conf.len - 1] == '/';
    rest = path.len - conf.len;
    return rest == 0 || (rest == 1 && path.base[conf.len] == '/');
}

static void free_request_copy(void *request)
{
    free(request);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    list_handler_t *handler = (list_handler_t *)self;
    struct list_http_request *r;
    list_request_t request, *copy;
    booka_buf_t key = {NULL};
    h2o_iovec_t query;

    if (booka_http_answer_preflight(req))
        return 0;
    if (!serves_path(req)) {
        booka_http_send_error_message(req, 404, "Not Found", "Not Found");
        return 0;
    }
    if (booka_http_refuse_method(req) || booka_http_read_query(req, &query) != 0 ||
        parse_query(req, query.base, query.len, &request, &key) != 0)
        return 0;
    copy = h2o_mem_alloc(sizeof(*copy));
    *copy = request;
    r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), on_request_dispose);
    *r = (struct list_http_request){req, handler, NULL, NULL,
                                    booka_edge_list_tags(request.category, strlen(request.category), &req->pool)};
    r->lookup = booka_cache_lookup(req->conn->ctx, handler->store, &handler->policy, h2o_iovec_init(key.base, key.len),
                                   fill_from_database, copy, free_request_copy, on_cached, r, booka_http_request_id(req));
    booka_buf_free(&key);
    return 0;
}

/* ---- prewarming ---- */

#define PREWARM_DELAY_MS 200 /* after start-up, so the pools and the LISTEN connection (the generation) are up first */

struct prewarm {
    list_handler_t *handler;
    h2o_context_t *ctx;
    h2o_timeout_t delay;
    h2o_timeout_entry_t entry;
};

static void on_prewarmed(void *data, booka_cache_outcome_t outcome, booka_cache_value_t *value, const booka_trace_t *trace)
{
    booka_log(NULL, "list", "prewarmed %s: %d %s", (const char *)data, value->status, booka_cache_outcome_names[outcome]);
    booka_cache_value_release(value);
}

/* on_prewarm: one lookup per configured query, as a request would make, so the cache's single-flight and Redis apply. */
static void on_prewarm(h2o_timeout_entry_t *entry)
{
    struct prewarm *p = H2O_STRUCT_FROM_MEMBER(struct prewarm, entry, entry);

    for (size_t i = 0; i != p->handler->prewarm.size; ++i) {
        h2o_iovec_t q = p->handler->prewarm.entries[i];
        list_request_t *request = h2o_mem_alloc(sizeof(*request));
        booka_buf_t key = {NULL}, errors = {NULL};
        if (list_request_parse(request, q.base, q.len, &errors) != LIST_PARSE_OK) {
            free(request);
        } else {
            cache_key(request, &key);
            booka_cache_lookup(p->ctx, p->handler->store, &p->handler->policy, h2o_iovec_init(key.base, key.len),
                               fill_from_database, request, free_request_copy, on_prewarmed, q.base, h2o_iovec_init(NULL, 0));
        }
        booka_buf_free(&key);
        booka_buf_free(&errors);
    }
}

static void on_context_init(h2o_handler_t *self, h2o_context_t *ctx)
{
    list_handler_t *handler = (list_handler_t *)self;
    static atomic_int prewarm_claimed; /* one thread of the process prewarms */
    int expected = 0;

    booka_db_context_init(ctx);
    booka_redis_context_init(ctx);
    booka_invalidation_context_init(ctx);
    booka_db_replica_follow(ctx, &booka_cache_generation, &booka_cache_changes);
    booka_edge_context_init(ctx);
    if (handler->prewarm.size != 0 && atomic_compare_exchange_strong(&prewarm_claimed, &expected, 1)) {
        struct prewarm *p = h2o_mem_alloc(sizeof(*p));
        *p = (struct prewarm){.handler = handler, .ctx = ctx};
        h2o_timeout_init(ctx->loop, &p->delay, PREWARM_DELAY_MS);
        p->entry.cb = on_prewarm;
        h2o_timeout_link(ctx->loop, &p->delay, &p->entry);
    }
}

static int invalidation_is_up(h2o_context_t *ctx, void *unused)
{
    return booka_invalidation_is_listening();
}

list_handler_t *list_handler_register(h2o_pathconf_t *pathconf, h2o_iovec_t cache_control, const booka_cache_policy_t *policy,
                                      size_t cache_bytes)
{
    static booka_cache_store_t *store; /* one per process: every list path shares it (the keys are canonical) */
    list_handler_t *handler = (list_handler_t *)h2o_create_handler(pathconf, sizeof(*handler));

    if (store == NULL)
        store = booka_cache_store_create(cache_bytes);
    handler->super.on_req = on_req;
    handler->super.on_context_init = on_context_init;
    handler->cache_control = booka_edge_cache_control(cache_control);
    if (handler->cache_control.base != cache_control.base)
        free(cache_control.base);
    handler->policy = *policy;
    handler->store = store;
    booka_http_attach(pathconf);
    booka_db_require();
    /* until it is up, this instance's cache keys are its own (a random epoch) and writes do not reach its cache. With edge
     * purging it is required: an instance that cannot hear writes keeps serving what it cached before them, and an edge
     * refetch right after another instance's purge would keep that for s-maxage (booka.edge is a global directive,
     * applied before the paths) */
    booka_health_add_dependency("invalidation", booka_edge_is_purging(), invalidation_is_up, NULL);
    return handler;
}
