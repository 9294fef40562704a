/* fill.c: builds a variant the cache tiers did not have (the fill of booka_cache_lookup): reads a long picture URL, fetches
 * an http(s) source, renders on the worker pool, and hands the encoded image, or the error, to booka_cache_fill_done,
 * which stores it (in process and in Redis), answers every request waiting for it and, if the request that started it
 * went away, still keeps it: what it cost is not thrown away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avatar/internal.h"
#include "db/answer.h"
#include "http/http.h"

struct avatar_fill {
    avatar_context_t *actx;
    avatar_variant_t variant;
    char *url; /* owned, NUL-terminated; NULL when it is to be read (or was handed to a render job) */
    size_t url_len;
    int below_media_base; /* url is a media path below media-base-url */
    char *source_key;     /* owned while this fill fetches its source for others too: the source flight's key */
    size_t source_key_len;
    booka_cache_value_t *stale;   /* held while revalidating: the originals cache's expired copy of the source */
    booka_cache_fill_t *handle;   /* while running */
    h2o_timeout_entry_t deferred; /* ends a failed fill on the next turn of the loop */
    int error_status;
    booka_buf_t error_body;
};

static const char msg_workers_busy[] = "the image workers are busy, try again";
static const char msg_sources_busy[] = "the picture sources are busy, try again";

static const char *const statement_read_url = "SELECT p.profile_picture_url FROM service_provider_profiles p "
                                              "JOIN booka.providers d ON d.user_id = p.user_id "
                                              "WHERE p.user_id = $1 AND d.picture_version = $2";

avatar_fill_t *avatar_fill_new(avatar_context_t *actx, const avatar_variant_t *variant, h2o_iovec_t url)
{
    avatar_fill_t *fill = h2o_mem_alloc(sizeof(*fill));

    *fill = (avatar_fill_t){.actx = actx, .variant = *variant};
    if (url.base != NULL) {
        fill->url = h2o_strdup(NULL, url.base, url.len).base;
        fill->url_len = url.len;
    }
    return fill;
}

void avatar_fill_free(void *_fill)
{
    avatar_fill_t *fill = _fill;
    free(fill->url);
    free(fill->source_key);
    if (fill->stale != NULL)
        booka_cache_value_release(fill->stale);
    booka_buf_free(&fill->error_body);
    free(fill);
}

static void on_deferred_failure(h2o_timeout_entry_t *entry)
{
    avatar_fill_t *fill = H2O_STRUCT_FROM_MEMBER(avatar_fill_t, deferred, entry);
    booka_buf_t body = fill->error_body;

    fill->error_body = (booka_buf_t){NULL};
    /* an error carries no tag: it answers the waiting requests and is never stored */
    booka_buf_or_abort(&body); /* one of our messages: fixed size (http/json.h, out of memory) */
    booka_cache_fill_done(fill->handle, fill->error_status, h2o_iovec_init(body.base, body.len), h2o_iovec_init("", 0),
                          h2o_iovec_init(H2O_STRLIT("application/json")));
    booka_buf_free(&body);
}

/* fail: ends the fill with `{"detail": message}`, logged unless it is an everyday answer (a missing picture, a busy or
 * changing moment). Many failures are known while the cache is still calling avatar_fill_run, so every one ends on the
 * next turn of the loop, never on the caller's stack. */
static void fail(avatar_fill_t *fill, int status, const char *message)
{
    if ((status != 404 && status != 503) || strcmp(message, BOOKA_OUT_OF_MEMORY) == 0) /* memory: an operator's concern */
        booka_log_id(booka_cache_fill_trace(fill->handle)->request_id, "avatar", "provider %lld: answering %d: %s",
                     (long long)fill->variant.provider_id, status, message);
    fill->error_status = status;
    booka_buf_append_str(&fill->error_body, "{\"detail\": ");
    booka_json_string(&fill->error_body, message, strlen(message));
    booka_buf_append_str(&fill->error_body, "}");
    fill->deferred.cb = on_deferred_failure;
    h2o_timeout_link(fill->actx->ctx->loop, &fill->actx->ctx->zero_timeout, &fill->deferred);
}

/* on_rendered: back from the worker, on the fill's loop. */
static void on_rendered(avatar_job_t *_job)
{
    avatar_render_job_t *job = (avatar_render_job_t *)_job;
    avatar_fill_t *fill = job->owner;
    booka_trace_t *trace = booka_cache_fill_trace(fill->handle);

    trace->avatar_queue_us += job->super.queue_us;
    trace->avatar_render_us += job->super.run_us;
    if (job->status == 200)
        booka_cache_fill_done(fill->handle, 200, h2o_iovec_init(job->result.bytes, job->result.len),
                              h2o_iovec_init(fill->variant.etag, fill->variant.etag_len),
                              h2o_iovec_init(job->result.mime_type, strlen(job->result.mime_type)));
    else
        fail(fill, job->status, job->message);
    avatar_render_job_free(job);
}

/* render: queues the render of `text` (owned; a data URL or a media path) or of fetched `bytes` (owned). */
static void render(avatar_fill_t *fill, avatar_source_kind_t kind, char *text, size_t text_len, uint8_t *bytes, size_t len)
{
    avatar_render_job_t *job = h2o_mem_alloc(sizeof(*job));

    *job = (avatar_render_job_t){.super = {.receiver = &fill->actx->jobs_done, .run = avatar_render, .done = on_rendered},
                                 .kind = kind,
                                 .text = text,
                                 .text_len = text_len,
                                 .bytes = bytes,
                                 .len = len,
                                 .conf = &fill->actx->handler->conf,
                                 .pool = fill->actx->handler->pool,
                                 .side = fill->variant.side,
                                 .format = fill->variant.format,
                                 .quality = fill->variant.quality,
                                 .owner = fill};
    if (avatar_pool_submit(fill->actx->handler->pool, &job->super) != 0) {
        atomic_fetch_add(&avatar_stat_queue_full, 1);
        avatar_render_job_free(job);
        fail(fill, 503, msg_workers_busy);
    }
}

/* How long past originals-ttl a fetched source is kept (within originals-cache-size) to be revalidated rather than
 * fetched whole: a conditional GET whose 304 costs the server no body (issue 12: pictures on shared storage). */
#define REVALIDATE_WINDOW_MS (24 * 3600 * 1000ULL)

/* share_source: what fetching the source gave, for the other variants of the picture: a 200 goes to the originals cache
 * (a copy; the render takes the bytes) with the server's validators (in the value's etag and content_type slots: ETag and
 * Last-Modified), and either answer to the fills that waited for this fetch (join_source_flight). */
static void share_source(avatar_fill_t *fill, int status, const char *message, const uint8_t *body, size_t len,
                         const avatar_validators_t *validators)
{
    avatar_handler_t *handler = fill->actx->handler;
    uint64_t now = booka_cache_now(), until = now + handler->conf.originals_ttl * 1000;
    int revalidatable = validators != NULL && (validators->etag[0] != '\0' || validators->last_modified[0] != '\0');
    booka_cache_value_t *value;

    value = booka_cache_value_new(
        status == 200 ? h2o_iovec_init(body, len) : h2o_iovec_init(message, strlen(message)),
        revalidatable ? h2o_iovec_init(validators->etag, strlen(validators->etag)) : h2o_iovec_init("", 0),
        revalidatable ? h2o_iovec_init(validators->last_modified, strlen(validators->last_modified)) : h2o_iovec_init("", 0),
        status, now, until, revalidatable ? until + REVALIDATE_WINDOW_MS : until);
    if (value != NULL && status == 200 && handler->originals != NULL)
        booka_cache_store_put(handler->originals, fill->url, fill->url_len, value);
    if (fill->source_key != NULL) { /* NULL (out of memory) tells the waiting fills to answer 503 */
        booka_flight_land(fill->source_key, fill->source_key_len, value);
        free(fill->source_key);
        fill->source_key = NULL;
    }
    if (value != NULL)
        booka_cache_value_release(value);
}

/* reuse_original: the source's bytes from the originals cache (a copy for the render), or NULL. An expired copy that
 * came with validators is kept in fill->stale for the fetch to revalidate. */
static uint8_t *reuse_original(avatar_fill_t *fill, size_t *len)
{
    avatar_handler_t *handler = fill->actx->handler;
    booka_cache_value_t *value;
    uint8_t *bytes = NULL;

    if (handler->originals == NULL || (value = booka_cache_store_get(handler->originals, fill->url, fill->url_len)) == NULL)
        return NULL;
    if (booka_cache_now() < value->fresh_until) {
        if ((bytes = malloc(value->body.len != 0 ? value->body.len : 1)) != NULL) {
            memcpy(bytes, value->body.base, value->body.len);
            *len = value->body.len;
            atomic_fetch_add(&avatar_stat_originals_hits, 1);
        }
    } else if (value->status == 200 && (value->etag.len != 0 || value->content_type.len != 0)) {
        fill->stale = value; /* the fetch's reference now */
        return NULL;
    }
    booka_cache_value_release(value);
    return bytes;
}

/* held_validators: the validators kept with an originals cache entry (share_source: ETag in its etag slot, Last-Modified
 * in its content_type slot). */
static void held_validators(const booka_cache_value_t *value, avatar_validators_t *out)
{
    snprintf(out->etag, sizeof(out->etag), "%.*s", (int)value->etag.len, value->etag.base);
    snprintf(out->last_modified, sizeof(out->last_modified), "%.*s", (int)value->content_type.len, value->content_type.base);
}

/* revalidated: the server said the expired copy in fill->stale is current (304): its bytes (a copy) serve as the fetch's
 * body, kept fresh again under its validators, updated by those the 304 sent (RFC 9111 4.3.4). Returns 0, or -1 when
 * memory runs out. */
static int revalidated(avatar_fill_t *fill, const avatar_validators_t *sent, uint8_t **body, size_t *len,
                       avatar_validators_t *validators)
{
    booka_cache_value_t *stale = fill->stale;

    if ((*body = malloc(stale->body.len != 0 ? stale->body.len : 1)) == NULL)
        return -1;
    memcpy(*body, stale->body.base, stale->body.len);
    *len = stale->body.len;
    held_validators(stale, validators);
    if (sent != NULL && sent->etag[0] != '\0')
        memcpy(validators->etag, sent->etag, sizeof(validators->etag));
    if (sent != NULL && sent->last_modified[0] != '\0')
        memcpy(validators->last_modified, sent->last_modified, sizeof(validators->last_modified));
    atomic_fetch_add(&avatar_stat_originals_revalidated, 1);
    return 0;
}

static void on_fetched(void *data, int status, const char *message, uint8_t *body, size_t len,
                       const avatar_validators_t *validators)
{
    avatar_fill_t *fill = data;
    avatar_validators_t kept;

    avatar_gate_leave(fill->actx->handler);
    if (status == 304) { /* only asked when fill->stale is held (fetch_source) */
        if (revalidated(fill, validators, &body, &len, &kept) == 0) {
            status = 200;
            validators = &kept;
        } else {
            status = 503;
            message = msg_out_of_memory;
        }
    }
    if (fill->stale != NULL) {
        booka_cache_value_release(fill->stale);
        fill->stale = NULL;
    }
    share_source(fill, status, message, body, len, validators);
    if (status == 200) {
        render(fill, AVATAR_SOURCE_HTTP, NULL, 0, body, len);
    } else {
        if (status != 503) /* busy is a moment of ours, not the source's failure */
            avatar_gate_remember(fill->actx, fill->url, fill->url_len, status, message);
        fail(fill, status, message);
    }
}

/* on_source_landed: another fill's fetch of the same source ended (NULL: it could not tell, or took too long). */
static void on_source_landed(void *data, booka_cache_value_t *value)
{
    avatar_fill_t *fill = data;
    char message[160];
    uint8_t *bytes;

    atomic_fetch_sub(&fill->actx->handler->source_waiters, 1);
    if (value == NULL) {
        fail(fill, 503, msg_sources_busy);
    } else if (value->status != 200) {
        snprintf(message, sizeof(message), "%.*s", (int)value->body.len, value->body.base);
        fail(fill, value->status, message);
    } else if ((bytes = malloc(value->body.len != 0 ? value->body.len : 1)) == NULL) {
        fail(fill, 503, msg_out_of_memory); /* the fetched source's size */
    } else {
        memcpy(bytes, value->body.base, value->body.len);
        render(fill, AVATAR_SOURCE_HTTP, NULL, 0, bytes, value->body.len);
    }
    if (value != NULL)
        booka_cache_value_release(value);
}

/* join_source_flight: a single flight per source URL across the threads, in front of the fetch: the first fill of a
 * source leads (returns 0: it fetches, and shares the outcome with share_source); the others wait for the bytes and
 * render their own variants from them (returns 1), as many as the worker pool could take at once (more answer 503). */
static int join_source_flight(avatar_fill_t *fill)
{
    static const char prefix[] = "avatar-source:";
    avatar_handler_t *handler = fill->actx->handler;
    size_t key_len = sizeof(prefix) - 1 + fill->url_len;
    char *key = h2o_mem_alloc(key_len);
    booka_flight_waiter_t *waiter;

    memcpy(key, prefix, sizeof(prefix) - 1);
    memcpy(key + sizeof(prefix) - 1, fill->url, fill->url_len);
    if (booka_flight_begin(fill->actx->ctx, key, key_len, handler->conf.fetch_timeout + 1000, on_source_landed, fill, &waiter) ==
        BOOKA_FLIGHT_LEAD) {
        fill->source_key = key;
        fill->source_key_len = key_len;
        return 0;
    }
    free(key);
    if (atomic_fetch_add(&handler->source_waiters, 1) >= handler->conf.worker_threads + handler->conf.queue_limit) {
        atomic_fetch_sub(&handler->source_waiters, 1);
        booka_flight_cancel(waiter); /* before its landing can have arrived: that comes through this loop */
        atomic_fetch_add(&avatar_stat_queue_full, 1);
        fail(fill, 503, msg_workers_busy);
        return 1;
    }
    atomic_fetch_add(&avatar_stat_source_waits, 1);
    return 1;
}

/* fetch_source: an http(s) source: from the originals cache; else through the gate: a source that just failed answers as
 * it did; another fill fetching it now shares its bytes; a full worker pool (the bytes could not be rendered) or
 * fetch-concurrency fetches in flight answer 503 before anything is fetched. */
static void fetch_source(avatar_fill_t *fill)
{
    int status;
    const char *message;
    uint8_t *bytes;
    size_t len;

    if ((bytes = reuse_original(fill, &len)) != NULL) {
        render(fill, AVATAR_SOURCE_HTTP, NULL, 0, bytes, len);
    } else if (avatar_gate_recall(fill->actx, fill->url, fill->url_len, &status, &message)) {
        fail(fill, status, message);
    } else if (join_source_flight(fill)) {
        /* waiting for another fill's fetch */
    } else if (avatar_pool_is_full(fill->actx->handler->pool)) {
        atomic_fetch_add(&avatar_stat_queue_full, 1);
        share_source(fill, 503, msg_workers_busy, NULL, 0, NULL);
        fail(fill, 503, msg_workers_busy);
    } else if (avatar_gate_enter(fill->actx->handler) != 0) {
        share_source(fill, 503, msg_sources_busy, NULL, 0, NULL);
        fail(fill, 503, msg_sources_busy);
    } else {
        avatar_validators_t held;
        if (fill->stale != NULL)
            held_validators(fill->stale, &held);
        avatar_fetch(fill->actx, fill->url, fill->url_len, fill->below_media_base, fill->stale != NULL ? &held : NULL,
                     booka_cache_fill_trace(fill->handle), on_fetched, fill);
    }
}

/* fetch_media: a stored media path under media-base-url: fetched like any http(s) source (the same gate, address rules
 * and originals cache); a path media-root would refuse is 404 here too. */
static void fetch_media(avatar_fill_t *fill, h2o_iovec_t path)
{
    size_t len;
    char *url = avatar_media_url(fill->actx->handler->conf.media_base_url, path.base, path.len, &len);

    if (url == NULL) {
        fail(fill, 404, "the provider's picture is not available");
        return;
    }
    free(fill->url);
    fill->url = url;
    fill->url_len = len;
    fill->below_media_base = 1;
    fetch_source(fill);
}

/* start_source: the URL is known; get its bytes the way its form asks for. */
static void start_source(avatar_fill_t *fill)
{
    h2o_iovec_t path;
    char *text;

    avatar_source_kind_t kind = avatar_classify_source(fill->url, fill->url_len, &path);

    /* what a stored URL makes the server allocate (keys, the request, the media URL) must be bounded: under the rule of
     * plugin/http/json.h those allocations abort when memory runs out, so their size may not be the input's */
    if (kind != AVATAR_SOURCE_DATA_URL && fill->url_len > AVATAR_SOURCE_URL_MAX) {
        fail(fill, 502, "the picture URL is too long");
        return;
    }
    switch (kind) {
    case AVATAR_SOURCE_DATA_URL: /* megabytes maybe: the job takes the URL itself */
        text = fill->url;
        fill->url = NULL;
        render(fill, AVATAR_SOURCE_DATA_URL, text, fill->url_len, NULL, 0);
        break;
    case AVATAR_SOURCE_MEDIA:
        if (fill->actx->handler->conf.media_base_url != NULL) {
            fetch_media(fill, path);
        } else {
            render(fill, AVATAR_SOURCE_MEDIA, h2o_strdup(NULL, path.base, path.len).base, path.len, NULL, 0);
        }
        break;
    case AVATAR_SOURCE_HTTP:
        fetch_source(fill);
        break;
    default:
        fail(fill, 404, "the provider's picture is not available");
        break;
    }
}

static void on_url_read(void *data, booka_db_status_t status, PGresult *const *results, size_t num_results)
{
    avatar_fill_t *fill = data;

    switch (status) {
    case BOOKA_DB_OK:
        if (PQntuples(results[0]) != 1 || PQgetisnull(results[0], 0, 0)) {
            /* the picture was replaced (or removed) since the lookup: this variant no longer exists */
            fail(fill, 503, "the picture changed meanwhile, try again");
        } else if ((fill->url = malloc((size_t)PQgetlength(results[0], 0, 0) + 1)) == NULL) {
            fail(fill, 503, msg_out_of_memory); /* a data: URL of megabytes: the stored input decides the size */
        } else {
            fill->url_len = (size_t)PQgetlength(results[0], 0, 0);
            memcpy(fill->url, PQgetvalue(results[0], 0, 0), fill->url_len + 1);
            start_source(fill);
        }
        break;
    default: {
        booka_db_answer_t a = booka_db_answer(fill->actx->ctx, status);
        fail(fill, a.status, a.message);
        break;
    }
    }
}

/* read_url: the second, rarer query: the long URL (a data: URL) of the picture whose token the lookup saw. */
static void read_url(avatar_fill_t *fill)
{
    char id[24];
    booka_db_statement_t statement = {statement_read_url, 2, {id, fill->variant.token}};
    booka_db_query_t *query;
    booka_db_status_t status;

    snprintf(id, sizeof(id), "%lld", (long long)fill->variant.provider_id);
    query = booka_db_query_new(&statement, 1, avatar_lookup_flags(), on_url_read, fill);
    booka_db_query_trace(query, booka_cache_fill_trace(fill->handle));
    if ((status = booka_db_submit(fill->actx->ctx, query)) != BOOKA_DB_OK)
        on_url_read(fill, status, NULL, 0);
}

void avatar_fill_run(h2o_context_t *ctx, booka_cache_fill_t *handle, void *_fill)
{
    avatar_fill_t *fill = _fill;

    fill->handle = handle;
    if (fill->url != NULL)
        start_source(fill);
    else
        read_url(fill);
}
