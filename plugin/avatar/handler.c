/* handler.c: GET/HEAD /api/v1/img/avatar/{id}: the id and query, the provider's picture version (the request's own `v`
 * when known.c says it is the current one, else one read-only lookup of the version, and of the URL when short), the
 * variant's key and ETag, then a 304, a cached variant, another request's fill of the same variant (single-flight across
 * threads), or a fill of our own. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "avatar/internal.h"
#include "cache/invalidate.h"
#include "cache/redis.h"
#include "db/answer.h"
#include "edge/edge.h"
#include "health/health.h"
#include "http/etag.h"
#include "http/http.h"
#include "http/query.h"

/* The lookup: the version token the list emits (booka.providers.picture_version, which the schema derives from the URL)
 * and, when short, the URL itself; a data: URL of megabytes is read only when a variant has to be built (fill.c). */
static const char *const statement_lookup =
    "SELECT d.picture_version, CASE WHEN octet_length(p.profile_picture_url) <= " H2O_TO_STR(
        AVATAR_URL_INLINE_MAX) " THEN p.profile_picture_url END FROM service_provider_profiles p "
                               "JOIN booka.providers d ON d.user_id = p.user_id WHERE p.user_id = $1";

/* avatar_request: lives in the request's pool; its disposal (the client went away) lets go of whatever is pending. */
struct avatar_request {
    h2o_req_t *req;
    avatar_context_t *actx;
    avatar_params_t params;
    int64_t provider_id;
    avatar_variant_t variant;
    h2o_iovec_t url; /* the picture URL when the lookup brought it (in the request's pool), else NULL */
    booka_db_query_t *lookup;
    uint64_t known_stamp; /* avatar_known_stamp() as the lookup was sent: its answer is remembered with it */
    booka_cache_lookup_t *cached;
    booka_cache_value_t *value; /* what the response body points into, held until the request is gone */
    booka_trace_t trace;        /* the lookup query's time, then the cache lookup's */
};

_Atomic uint64_t avatar_stat_lookups_skipped;

/* set_representation_headers: what a 200 and its 304 share: ETag, Cache-Control, Vary, X-Cache. Added, not set: the
 * response has none of them yet, and looking each name up by string was 2% of a HIT's CPU (perf, issue 15). */
static void set_representation_headers(struct avatar_request *r, booka_cache_outcome_t outcome)
{
    avatar_handler_t *handler = r->actx->handler;
    h2o_req_t *req = r->req;
    int versioned = r->params.version[0] != '\0' && strcmp(r->params.version, r->variant.token) == 0;
    h2o_iovec_t cache_control = versioned ? handler->cache_control_versioned : handler->cache_control;
    const char *x_cache = booka_cache_outcome_names[outcome];

    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, r->variant.etag, r->variant.etag_len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cache_control.base, cache_control.len);
    if (r->params.format == AVATAR_FORMAT_AUTO)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Accept"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-cache"), 0, NULL, x_cache, strlen(x_cache));
    if (!versioned) /* the picture behind this URL changes: the edge purges it by these tags; a versioned URL never changes */
        booka_edge_tag_avatar(req, r->provider_id);
}

/* send_not_modified: a 304 without Content-Length: RFC 9110 8.6 allows only the 200's length there, which a revalidation
 * answered before any decode does not know (booka_http_send would say 0). */
static void send_not_modified(h2o_req_t *req)
{
    static h2o_generator_t generator = {NULL, NULL};

    req->res.status = 304;
    req->res.reason = "Not Modified";
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

/* on_cached: the cache lookup's answer: a variant (200) or an error; `value`'s reference passes to the request. */
static void on_cached(void *data, booka_cache_outcome_t outcome, booka_cache_value_t *value, const booka_trace_t *trace)
{
    struct avatar_request *r = data;
    h2o_req_t *req = r->req;

    r->cached = NULL;
    r->value = value;
    booka_trace_add_times(&r->trace, trace);
    booka_trace_export(req, &r->trace);
    if (value->status == 200) {
        set_representation_headers(r, outcome);
        /* the variant's format names its type (what the fill stored, image_encode's static string): passed as a
         * constant, booka_http_send remembers its MIME attributes instead of searching the MIME map per request */
        booka_http_send(req, 200, "OK", r->variant.format == BOOKA_IMAGE_OUTPUT_WEBP ? "image/webp" : "image/jpeg", value->body);
        return;
    }
    booka_db_send_error_body(req, value->status, value->body);
}

/* output_format: fmt, with auto resolved by Accept: WebP only when a header names image/webp with q > 0. */
static booka_image_output_format_t output_format(h2o_req_t *req, avatar_format_t format)
{
    if (format != AVATAR_FORMAT_AUTO)
        return format == AVATAR_FORMAT_WEBP ? BOOKA_IMAGE_OUTPUT_WEBP : BOOKA_IMAGE_OUTPUT_JPEG;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT, i)) != -1;)
        if (avatar_accept_names_webp(req->headers.entries[i].value.base, req->headers.entries[i].value.len))
            return BOOKA_IMAGE_OUTPUT_WEBP;
    return BOOKA_IMAGE_OUTPUT_JPEG;
}

/* serve_variant: the variant is known: 304, or the variant from a cache tier, from another request's fill (single-flight
 * in the process and across instances) or from a fill of our own. */
static void serve_variant(struct avatar_request *r)
{
    avatar_handler_t *handler = r->actx->handler;

    if (booka_etag_request_matches(r->req, h2o_iovec_init(r->variant.etag, r->variant.etag_len))) {
        booka_cache_value_t *value = booka_cache_store_get(handler->store, r->variant.key, r->variant.key_len);
        set_representation_headers(r, value != NULL ? BOOKA_CACHE_HIT : BOOKA_CACHE_MISS);
        if (value != NULL)
            booka_cache_value_release(value);
        send_not_modified(r->req);
        return;
    }
    /* a fresh variant in process answers before the fill's arguments are copied (they were 2% of a HIT's CPU) */
    booka_cache_value_t *fresh = booka_cache_get_fresh(handler->store, h2o_iovec_init(r->variant.key, r->variant.key_len));
    if (fresh != NULL) {
        static const booka_trace_t no_work;
        on_cached(r, BOOKA_CACHE_HIT, fresh, &no_work);
        return;
    }
    r->cached = booka_cache_lookup(
        r->actx->ctx, handler->store, &handler->cache_policy, h2o_iovec_init(r->variant.key, r->variant.key_len), avatar_fill_run,
        avatar_fill_new(r->actx, &r->variant, r->url), avatar_fill_free, on_cached, r, booka_http_request_id(r->req));
}

int avatar_lookup_flags(void)
{
    return BOOKA_DB_READ_ONLY | (booka_edge_is_purging() ? BOOKA_DB_PRIMARY : 0);
}

static void on_looked_up(void *data, booka_db_status_t status, PGresult *const *results, size_t num_results)
{
    struct avatar_request *r = data;
    h2o_req_t *req = r->req;
    size_t token_len;

    r->lookup = NULL;
    booka_trace_export(req, &r->trace);
    if (status != BOOKA_DB_OK)
        booka_log(req, "avatar", "provider %" PRId64 ": lookup: %s", r->provider_id, booka_db_status_message(status));
    if (status != BOOKA_DB_OK) {
        booka_db_send_answer(req, status);
        return;
    }
    if (PQntuples(results[0]) == 0) {
        avatar_known_forget(r->provider_id);
        booka_http_send_error_message(req, 404, "Not Found", "provider not found");
        return;
    }
    if (PQgetisnull(results[0], 0, 0)) {
        avatar_known_forget(r->provider_id);
        booka_http_send_error_message(req, 404, "Not Found", "the provider has no picture");
        return;
    }
    avatar_known_remember(r->provider_id, PQgetvalue(results[0], 0, 0), (size_t)PQgetlength(results[0], 0, 0), r->known_stamp);
    if ((token_len = (size_t)PQgetlength(results[0], 0, 0)) > AVATAR_TOKEN_MAX) {
        booka_log(req, "avatar", "profile_picture_version of provider %" PRId64 " is longer than %d bytes", r->provider_id,
                  AVATAR_TOKEN_MAX);
        booka_http_send_error_message(req, 500, "Internal Server Error", "Internal Server Error");
        return;
    }
    if (!PQgetisnull(results[0], 0, 1))
        r->url = h2o_strdup(&req->pool, PQgetvalue(results[0], 0, 1), (size_t)PQgetlength(results[0], 0, 1));
    avatar_variant_init(&r->variant, r->provider_id, PQgetvalue(results[0], 0, 0), token_len, r->params.side,
                        output_format(req, r->params.format), r->params.quality);
    serve_variant(r);
}

/* serve_known_version: the request's `v` is the provider's current version as far as known.c can tell: the variant
 * follows from the request alone, and the picture's URL is read only if the variant has to be built. */
static void serve_known_version(struct avatar_request *r)
{
    atomic_fetch_add(&avatar_stat_lookups_skipped, 1);
    avatar_variant_init(&r->variant, r->provider_id, r->params.version, strlen(r->params.version), r->params.side,
                        output_format(r->req, r->params.format), r->params.quality);
    serve_variant(r);
}

static void on_request_dispose(void *data)
{
    struct avatar_request *r = data;

    if (r->lookup != NULL)
        booka_db_query_abandon(r->lookup);
    booka_cache_abandon(r->cached);
    if (r->value != NULL)
        booka_cache_value_release(r->value);
}

/* path_rest: the request path below the handler's mount point, e.g. "/123". */
static h2o_iovec_t path_rest(h2o_req_t *req)
{
    h2o_iovec_t conf = req->pathconf->path, path = req->path_normalized;
    size_t skip = conf.len;

    if (skip != 0 && conf.base[skip - 1] == '/')
        --skip; /* mounted as "/api/v1/img/avatar/": keep the slash in the rest */
    if (path.len < skip)
        return h2o_iovec_init(NULL, 0);
    return h2o_iovec_init(path.base + skip, path.len - skip);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    avatar_handler_t *handler = (avatar_handler_t *)self;
    struct avatar_request *r;
    booka_buf_t errors = {NULL};
    avatar_params_t params;
    int64_t provider_id;
    char id_text[24];
    booka_db_statement_t statement = {statement_lookup, 1, {id_text}};
    booka_db_status_t status;
    avatar_signature_t signature;
    h2o_iovec_t query;

    if (booka_http_answer_preflight(req) || booka_http_refuse_method(req))
        return 0;
    if (avatar_parse_id(path_rest(req), &provider_id) != 0) {
        booka_http_send_error_message(req, 404, "Not Found", "Not Found");
        return 0;
    }
    if (booka_http_read_query(req, &query) != 0)
        return 0;
    if ((signature = avatar_signature_check(&handler->conf, provider_id, query.base, query.len)) != AVATAR_SIGNATURE_OK) {
        booka_http_send_error_message(req, 403, "Forbidden",
                                      signature == AVATAR_SIGNATURE_MISSING ? "this avatar URL must be signed (sig)"
                                                                            : "the avatar URL's signature does not match");
        return 0;
    }
    if (avatar_params_parse(&params, query.base, query.len, &errors) != 0 ||
        avatar_params_side(&params, &handler->conf, &errors) != 0) {
        booka_http_send_validation_errors(req, &errors);
        return 0;
    }

    r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), on_request_dispose);
    *r = (struct avatar_request){.req = req,
                                 .actx = h2o_context_get_handler_context(req->conn->ctx, &handler->super),
                                 .params = params,
                                 .provider_id = provider_id};
    booka_trace_init(&r->trace, booka_http_request_id(req));
    if (params.version[0] != '\0' && booka_invalidation_is_listening() &&
        avatar_known_is_current(provider_id, params.version, strlen(params.version))) {
        serve_known_version(r);
        return 0;
    }
    r->known_stamp = avatar_known_stamp();
    snprintf(id_text, sizeof(id_text), "%" PRId64, provider_id);
    r->lookup = booka_db_query_new(&statement, 1, avatar_lookup_flags(), on_looked_up, r);
    booka_db_query_trace(r->lookup, &r->trace);
    if ((status = booka_db_submit(req->conn->ctx, r->lookup)) != BOOKA_DB_OK) {
        booka_log(req, "avatar", "provider %" PRId64 ": lookup: %s", provider_id, booka_db_status_message(status));
        r->lookup = NULL; /* refused and freed: no callback */
        booka_db_send_answer(req, status);
    }
    return 0;
}

static void on_context_init(h2o_handler_t *self, h2o_context_t *ctx)
{
    avatar_handler_t *handler = (avatar_handler_t *)self;
    avatar_context_t *actx = h2o_mem_alloc(sizeof(*actx));

    *actx = (avatar_context_t){.handler = handler, .ctx = ctx};
    h2o_multithread_register_receiver(ctx->queue, &actx->jobs_done, avatar_pool_on_done);
    /* a fetch's resolving, connecting and every wait on the upstream; the whole fetch has its own */
    h2o_timeout_init(ctx->loop, &actx->fetch_io_timeout, handler->conf.fetch_connect_timeout);
    h2o_timeout_init(ctx->loop, &actx->fetch_total_timeout, handler->conf.fetch_timeout);
    h2o_context_set_handler_context(ctx, self, actx);
    booka_db_context_init(ctx);
    booka_redis_context_init(ctx);
    booka_flight_context_init(ctx);
    /* what a request with the current `v` trusts instead of a lookup (known.c); both calls are once per process */
    booka_invalidation_context_init(ctx);
    booka_db_replica_follow(ctx, &booka_cache_generation, &booka_cache_changes);
    avatar_pool_start(handler->pool);
}

static int invalidation_is_up(h2o_context_t *ctx, void *unused)
{
    return booka_invalidation_is_listening();
}

avatar_handler_t *avatar_handler_register(h2o_pathconf_t *pathconf, const avatar_config_t *conf)
{
    avatar_handler_t *handler = (avatar_handler_t *)h2o_create_handler(pathconf, sizeof(*handler));
    char header[160];

    handler->super.on_req = on_req;
    handler->super.on_context_init = on_context_init;
    handler->conf = *conf;
    pthread_mutex_init(&handler->failed_mutex, NULL);
    snprintf(header, sizeof(header), "public, max-age=%" PRIu64 ", s-maxage=%" PRIu64, conf->max_age, conf->s_maxage);
    handler->cache_control = h2o_strdup(NULL, header, SIZE_MAX);
    snprintf(header, sizeof(header), "public, max-age=%" PRIu64 ", s-maxage=%" PRIu64 ", immutable", conf->versioned_max_age,
             conf->versioned_max_age);
    handler->cache_control_versioned = h2o_strdup(NULL, header, SIZE_MAX);
    /* a variant never changes under its key (the token names the picture), so it is never served stale */
    handler->cache_policy = (booka_cache_policy_t){.fresh_ms = conf->cache_ttl * 1000,
                                                   .jitter_ms = conf->cache_ttl * 100,
                                                   .wait_ms = conf->coalesce_timeout,
                                                   .lock_ms = conf->coalesce_timeout};
    if (conf->originals_cache_size != 0 && (handler->originals = booka_cache_store_create(conf->originals_cache_size)) == NULL)
        h2o_fatal("no memory");
    if ((handler->store = booka_cache_store_create(conf->cache_budget)) == NULL ||
        (handler->pool = avatar_pool_create(conf->worker_threads, conf->queue_limit, conf->worker_memory_budget)) == NULL)
        h2o_fatal("no memory");
    booka_http_attach(pathconf);
    booka_db_require();
    booka_invalidation_add_observer(avatar_known_observe);
    /* while it is down, every request looks its version up (without edge purging not required: that is only slower; with
     * it required, as the list says, whichever handler registers first) */
    booka_health_add_dependency("invalidation", booka_edge_is_purging(), invalidation_is_up, NULL);
    return handler;
}
