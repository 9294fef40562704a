/* purge.c: the purger, on one loop thread of the process. It hears every change the invalidation applies
 * (cache/invalidate.h), claims it in Redis so exactly one instance purges it, holds it until the origin serves it (with a
 * read replica, cache keys take a write's generation only once the replica has it: a purge before that would have the
 * edge refetch the old answer), then adds its tags to each target's batch, and sends the batches within each target's
 * rate, retrying failures with backoff; with a read replica, a second purge follows once every instance must have taken
 * the change. At its first set-up the process asks Redis whether writes went unpurged while no instance listened.
 * No request ever waits for any of it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cache/invalidate.h"
#include "cache/redis.h"
#include "edge/internal.h"
#include "http/http.h"
#include "metrics/metrics.h"

#define TICK_MS 50
#define MAX_PENDING 1000        /* distinct tags waiting for one target; past it they collapse into their families */
#define MAX_BACKOFF_MS 60000    /* between tries of one batch */
#define PAYLOAD_MAX (8000 + 32) /* PostgreSQL's NOTIFY payload limit, and room for the id we may add */

#define SECOND_PURGE_MARGIN_MS 250 /* after booka_invalidation_visible_within: notifications reach instances a little apart */
#define SEEN_KEY_MAX 96

/* change_t: one change on its way from the LISTEN thread to the purger, then held (purger.held) until the origin serves
 * it, then (with a read replica) waiting for its second purge (purger.again). */
typedef struct change {
    h2o_multithread_message_t super; /* its link is the message's, then purger.held's or purger.again's */
    uint64_t id;                     /* names it in its claim: a write's number or the generation, the same on every instance */
    uint64_t serial;                 /* its place in the process's changes: purged once the origin serves it */
    uint64_t sequence;               /* the sequence value it covers, for booka:edge:seen (when has_sequence) */
    uint64_t heard_at;               /* ms, when the purger got it */
    uint64_t due;                    /* ms, when its second purge goes */
    int has_sequence;
    int first;      /* the process's first set-up */
    char payload[]; /* "<id> <tag>...": what edge_change_parse reads */
} change_t;

typedef struct target {
    const edge_target_conf_t *conf;
    h2o_http1client_ctx_t client_ctx;
    h2o_timeout_t io_timeout;
    edge_tag_list_t pending; /* waiting for the next request */
    edge_tag_list_t sending; /* in the request in flight */
    edge_bucket_t bucket;
    uint64_t not_before;     /* ms: a batch waits for company (batch-delay), a retry for its backoff */
    uint64_t sent_at;        /* ms, of the request in flight */
    unsigned failures;       /* tries of `sending` that failed so far */
    edge_request_t *request; /* in flight, or NULL */
    int busy;                /* a request is in flight (set before it starts: it may finish inside the start) */
} target_t;

static struct purger {
    h2o_context_t *ctx;
    h2o_multithread_receiver_t receiver;
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    target_t *targets;
    h2o_linklist_t held;  /* changes ours to purge, waiting for the origin to serve them */
    h2o_linklist_t again; /* changes purged once, waiting for their second purge */
    char instance[300];   /* hostname:pid, the value of the claims, so an operator can see who purged */
    int uncoordinated_reported;
} purger;
static atomic_int started;

/* how changes were decided: claimed here, claimed by another instance, purged without a claim (Redis configured but
 * not answering: better twice than never), purged alone (no Redis: a single instance), lost (no purger yet), unchanged
 * (the first set-up: nothing written since the last purge booka:edge:seen records) */
static struct {
    _Atomic uint64_t claimed, elsewhere, uncoordinated, alone, lost, unchanged;
} change_stats;

static void on_tick(h2o_timeout_entry_t *entry);

static void schedule_tick(void)
{
    if (!h2o_timeout_is_linked(&purger.tick_entry))
        h2o_timeout_link(purger.ctx->loop, &purger.tick, &purger.tick_entry);
}

void edge_purge_observe(const booka_invalidation_change_t *c)
{
    /* what changed is unknown (a set-up: writes while the LISTEN connection was down, or while no instance listened; a
     * trigger older than these tags): every list and avatar tag is purged. A write without tags ("<number> ") goes on
     * too: its claim records how far the sequence was purged (booka:edge:seen). */
    const char *tags = c->tags != NULL ? c->tags : "list avatar";
    size_t len;
    change_t *change;

    if (!atomic_load(&started)) {
        atomic_fetch_add(&change_stats.lost, 1);
        return;
    }
    len = strnlen(tags, PAYLOAD_MAX);
    change = h2o_mem_alloc(offsetof(change_t, payload) + len + 32);
    /* the id names the change in the claim key: a write's number is the same on every instance */
    *change = (change_t){
        .id = c->generation, .serial = c->serial, .sequence = c->sequence, .has_sequence = c->has_sequence, .first = c->first};
    snprintf(change->payload, len + 32, "%" PRIu64 " %.*s", c->generation, (int)len, tags);
    h2o_multithread_send_message(&purger.receiver, &change->super);
}

/* add_tags: the change's tags join the target's batch; a batch that was empty waits batch-delay for company. */
static void add_tags(target_t *t, const edge_tag_list_t *tags)
{
    uint64_t now = h2o_now(purger.ctx->loop);

    if (t->pending.size == 0 && t->not_before < now + edge_settings.batch_delay_ms)
        t->not_before = now + edge_settings.batch_delay_ms;
    for (size_t i = 0; i != tags->size; ++i)
        edge_tags_add(&t->pending, tags->entries[i], strlen(tags->entries[i]));
    if (t->pending.size > MAX_PENDING)
        edge_tags_collapse(&t->pending);
    atomic_store(&t->conf->stats->pending, t->pending.size);
}

/* add_change: the change's tags join every target's batch. */
static void add_change(change_t *change)
{
    edge_tag_list_t tags = {NULL};
    uint64_t id;

    if (edge_change_parse(change->payload, &id, &tags) > 0) {
        for (size_t i = 0; i != edge_settings.targets.size; ++i)
            add_tags(purger.targets + i, &tags);
        schedule_tick();
    }
    edge_tags_dispose(&tags);
}

/* release_held: the held changes the origin serves now go to the batches; with a read replica, other instances take them
 * on their own schedule (up to booka_invalidation_visible_within after they heard them), and an edge refetch that reached
 * one still holding the previous generation got the old answer: a second purge follows once all must have taken it,
 * unless this one goes out after that anyway. */
static void release_held(uint64_t now)
{
    uint64_t through = booka_invalidation_visible_through(), within = booka_invalidation_visible_within();

    for (h2o_linklist_t *l = purger.held.next; l != &purger.held;) {
        change_t *change = H2O_STRUCT_FROM_MEMBER(change_t, super.link, l);
        l = l->next;
        if (change->serial > through)
            continue;
        h2o_linklist_unlink(&change->super.link);
        add_change(change);
        change->due = change->heard_at + within + SECOND_PURGE_MARGIN_MS;
        if (within != 0 && now + edge_settings.batch_delay_ms < change->due)
            h2o_linklist_insert(&purger.again, &change->super.link);
        else
            free(change);
    }
    for (h2o_linklist_t *l = purger.again.next; l != &purger.again;) {
        change_t *change = H2O_STRUCT_FROM_MEMBER(change_t, super.link, l);
        l = l->next;
        if (now < change->due)
            continue;
        h2o_linklist_unlink(&change->super.link);
        add_change(change);
        free(change);
    }
}

static void on_seen_updated(void *data, redisReply *reply)
{
}

/* SEEN_SCRIPT: booka:edge:seen:<epoch> holds the highest sequence value whose changes were claimed for purging (decimal).
 * Raised to ARGV[1] when that is higher, atomically; returns 1 when it was raised. Decimal strings compare by length,
 * then bytes (Lua's numbers are doubles: exact only to 2^53). */
#define SEEN_SCRIPT                                                                                                                \
    "local s = redis.call('GET', KEYS[1]) if s and (#s > #ARGV[1] or (#s == #ARGV[1] and s >= ARGV[1])) then return 0 end "        \
    "redis.call('SET', KEYS[1], ARGV[1]) return 1"

/* raise_seen: SEEN_SCRIPT for `sequence`; `cb` gets the answer (NULL: not sent, Redis is not up). */
static booka_redis_command_t *raise_seen(uint64_t sequence, booka_redis_reply_cb cb, void *data)
{
    char key[SEEN_KEY_MAX], value[24];
    const char *argv[5] = {"EVAL", SEEN_SCRIPT, "1", key, value};
    size_t argv_len[5];

    snprintf(key, sizeof(key), "booka:edge:seen:%016" PRIx64, atomic_load(&booka_cache_epoch));
    snprintf(value, sizeof(value), "%" PRIu64, sequence);
    for (size_t i = 0; i != 5; ++i)
        argv_len[i] = strlen(argv[i]);
    return booka_redis_command(purger.ctx, 5, argv, argv_len, cb, data, NULL);
}

/* apply: the change is ours to purge: counted, its sequence value recorded as purged, and held until the origin serves it. */
static void apply(change_t *change, _Atomic uint64_t *counter)
{
    atomic_fetch_add(counter, 1);
    if (change->has_sequence && !change->first && booka_redis_is_configured())
        raise_seen(change->sequence, on_seen_updated, NULL);
    h2o_linklist_insert(&purger.held, &change->super.link);
    schedule_tick();
}

static void report_uncoordinated(int uncoordinated)
{
    if (uncoordinated && !purger.uncoordinated_reported)
        booka_log(NULL, "edge",
                  "Redis does not answer: purging changes without claiming them (other instances may purge "
                  "them too)");
    else if (!uncoordinated && purger.uncoordinated_reported)
        booka_log(NULL, "edge", "Redis answers again: changes are claimed before they are purged");
    purger.uncoordinated_reported = uncoordinated;
}

/* on_claimed: SET NX's answer: OK, ours; nil, another instance's; anything else (no answer in time, an error) leaves the
 * question open, and the change is purged anyway. */
static void on_claimed(void *data, redisReply *reply)
{
    change_t *change = data;

    if (reply != NULL && reply->type == REDIS_REPLY_NIL) {
        report_uncoordinated(0);
        atomic_fetch_add(&change_stats.elsewhere, 1);
        free(change);
    } else if (reply != NULL && reply->type == REDIS_REPLY_STATUS) {
        report_uncoordinated(0);
        apply(change, &change_stats.claimed);
    } else {
        report_uncoordinated(1);
        apply(change, &change_stats.uncoordinated);
    }
}

/* claim: SET booka:edge:claim:<epoch>:<id> <instance> NX EX <ttl>: the first instance to ask purges the change. */
static void claim(change_t *change)
{
    char key[96], ttl[24];
    const char *argv[6] = {"SET", key, purger.instance, "NX", "EX", ttl};
    size_t argv_len[6];

    if (!booka_redis_is_configured()) {
        apply(change, &change_stats.alone);
        return;
    }
    snprintf(key, sizeof(key), "booka:edge:claim:%016" PRIx64 ":%" PRIu64, atomic_load(&booka_cache_epoch), change->id);
    snprintf(ttl, sizeof(ttl), "%" PRIu64, edge_settings.claim_ttl_s);
    for (size_t i = 0; i != 6; ++i)
        argv_len[i] = strlen(argv[i]);
    if (booka_redis_command(purger.ctx, 6, argv, argv_len, on_claimed, change, NULL) == NULL) {
        report_uncoordinated(1);
        apply(change, &change_stats.uncoordinated);
    }
}

/* on_started: SEEN_SCRIPT's answer to the first set-up: 1, the sequence moved past what was purged (or nothing is
 * recorded): ours to purge; 0, nothing was written since; no answer: purged anyway. */
static void on_started(void *data, redisReply *reply)
{
    change_t *change = data;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        report_uncoordinated(0);
        atomic_fetch_add(&change_stats.unchanged, 1);
        free(change);
    } else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
        report_uncoordinated(0);
        apply(change, &change_stats.claimed);
    } else {
        report_uncoordinated(1);
        apply(change, &change_stats.uncoordinated);
    }
}

/* start: the process's first set-up. Writes made while no instance listened were never purged: the families are, unless
 * booka:edge:seen says the sequence has not moved since the last purge (raising it claims the purge: one instance). A
 * sequence never drawn from (0) means nothing was ever written. Without Redis there is no record: purged. */
static void start(change_t *change)
{
    if (!change->has_sequence) { /* an older schema: nothing to compare with; claimed like any unknown change */
        claim(change);
        return;
    }
    if (change->sequence == 0) {
        atomic_fetch_add(&change_stats.unchanged, 1);
        free(change);
        return;
    }
    if (!booka_redis_is_configured()) {
        apply(change, &change_stats.alone);
        return;
    }
    if (raise_seen(change->sequence, on_started, change) == NULL) {
        report_uncoordinated(1);
        apply(change, &change_stats.uncoordinated);
    }
}

static void on_changes(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    uint64_t now = h2o_now(purger.ctx->loop);

    while (!h2o_linklist_is_empty(messages)) {
        change_t *change = H2O_STRUCT_FROM_MEMBER(change_t, super.link, messages->next);
        h2o_linklist_unlink(&change->super.link);
        change->heard_at = now;
        if (change->first)
            start(change);
        else
            claim(change);
    }
}

static int is_retryable(int status)
{
    return status == 0 || status == 408 || status == 425 || status == 429 || status >= 500;
}

/* on_response: the batch is purged, retried later with backoff (back in front of the pending tags), or dropped. */
static void on_response(void *data, const edge_response_t *res)
{
    target_t *t = data;
    const edge_target_conf_t *conf = t->conf;
    char why[128];
    size_t n = t->sending.size;

    t->request = NULL;
    t->busy = 0;
    if (res->status >= 200 && res->status < 300) {
        atomic_fetch_add(&conf->stats->requests_ok, 1);
        atomic_fetch_add(&conf->stats->tags_purged, n);
        if (t->failures != 0)
            booka_log(NULL, "edge", "%s %s: purging works again", conf->kind_name, conf->endpoint);
        t->failures = 0;
        edge_tags_clear(&t->sending);
    } else {
        if (res->status == 0)
            snprintf(why, sizeof(why), "%s", res->error);
        else
            snprintf(why, sizeof(why), "status %d", res->status);
        if (is_retryable(res->status) && ++t->failures < conf->max_attempts) {
            uint64_t wait = edge_backoff_ms(t->failures, MAX_BACKOFF_MS, (uint32_t)rand());
            if (res->retry_after * 1000 > wait)
                wait = res->retry_after * 1000 < MAX_BACKOFF_MS ? res->retry_after * 1000 : MAX_BACKOFF_MS;
            atomic_fetch_add(&conf->stats->requests_retried, 1);
            booka_log(NULL, "edge", "%s %s: purge of %zu tags failed (%s: %.*s); try %u of %u in %" PRIu64 " ms", conf->kind_name,
                      conf->endpoint, n, why, (int)res->body.len, res->body.base, t->failures + 1, conf->max_attempts, wait);
            edge_tag_list_t swap;
            edge_tags_merge(&t->sending, &t->pending); /* the failed tags go first, the ones that came meanwhile after */
            swap = t->pending;
            t->pending = t->sending;
            t->sending = swap;
            t->not_before = h2o_now(purger.ctx->loop) + wait;
        } else {
            atomic_fetch_add(&conf->stats->requests_failed, 1);
            booka_log(NULL, "edge", "%s %s: purge of %zu tags failed (%s: %.*s) after %u tries; dropped", conf->kind_name,
                      conf->endpoint, n, why, (int)res->body.len, res->body.base, t->failures != 0 ? t->failures : 1);
            t->failures = 0;
            edge_tags_clear(&t->sending);
        }
    }
    atomic_store(&conf->stats->pending, t->pending.size);
    schedule_tick();
}

/* send_batch: the next request of `t`, with as many pending tags as one may carry. */
static void send_batch(target_t *t, uint64_t now)
{
    booka_buf_t bytes = {NULL};
    edge_request_t *request;

    edge_tags_take(&t->pending, &t->sending, t->conf->max_tags, t->conf->max_bytes, edge_tag_overhead(t->conf));
    atomic_store(&t->conf->stats->pending, t->pending.size);
    atomic_fetch_add(&t->conf->stats->batches, 1);
    edge_build_request(t->conf, &t->sending, &bytes);
    if (bytes.oom)
        h2o_fatal("no memory");
    edge_bucket_take(&t->bucket, now);
    t->sent_at = now;
    t->busy = 1;
    request = edge_request_start(&t->client_ctx, t->conf, h2o_iovec_init(bytes.base, bytes.len), on_response, t);
    if (t->busy)
        t->request = request;
}

/* on_tick: every TICK_MS while anything waits or is in flight: held changes the origin now serves join the batches (and
 * second purges that are due); a request past its deadline fails; a target whose batch may go (its delay passed, its
 * bucket has a token) sends it. */
static void on_tick(h2o_timeout_entry_t *entry)
{
    uint64_t now = h2o_now(purger.ctx->loop);
    int again = !h2o_linklist_is_empty(&purger.held) || !h2o_linklist_is_empty(&purger.again);

    release_held(now);
    for (size_t i = 0; i != edge_settings.targets.size; ++i) {
        target_t *t = purger.targets + i;
        if (t->busy && now - t->sent_at >= t->conf->timeout_ms) {
            edge_request_cancel(t->request);
            on_response(t, &(edge_response_t){.error = "no answer within the timeout"});
        }
        if (!t->busy && t->pending.size != 0 && now >= t->not_before && edge_bucket_wait(&t->bucket, now) == 0)
            send_batch(t, now);
        again |= t->busy || t->pending.size != 0;
    }
    if (again)
        schedule_tick();
}

int booka_edge_is_purging(void)
{
    return edge_settings.targets.size != 0;
}

void booka_edge_context_init(h2o_context_t *ctx)
{
    static atomic_int claimed;
    int expected = 0;
    char host[256];

    if (!booka_edge_is_purging() || !atomic_compare_exchange_strong(&claimed, &expected, 1))
        return;
    purger.ctx = ctx;
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    snprintf(purger.instance, sizeof(purger.instance), "%s:%d", host, (int)getpid());
    booka_redis_context_init(ctx);
    h2o_timeout_init(ctx->loop, &purger.tick, TICK_MS);
    purger.tick_entry.cb = on_tick;
    h2o_linklist_init_anchor(&purger.held);
    h2o_linklist_init_anchor(&purger.again);
    purger.targets = h2o_mem_alloc(edge_settings.targets.size * sizeof(*purger.targets));
    for (size_t i = 0; i != edge_settings.targets.size; ++i) {
        target_t *t = purger.targets + i;
        *t = (target_t){.conf = edge_settings.targets.entries + i};
        /* the request's deadline is on_tick's (timeout_ms for the whole request); libh2o's own I/O timeout is only a
         * backstop, set past it so the two never race to fail the same request with different errors */
        h2o_timeout_init(ctx->loop, &t->io_timeout, t->conf->timeout_ms + 4 * TICK_MS);
        t->client_ctx = (h2o_http1client_ctx_t){.loop = ctx->loop,
                                                .getaddr_receiver = &ctx->receivers.hostinfo_getaddr,
                                                .io_timeout = &t->io_timeout,
                                                .ssl_ctx = t->conf->ssl_ctx};
        edge_bucket_init(&t->bucket, t->conf->burst, t->conf->per_minute, h2o_now(ctx->loop));
    }
    h2o_multithread_register_receiver(ctx->queue, &purger.receiver, on_changes);
    atomic_store(&started, 1);
}

/* write_target_family: one metric family with a sample per target, read from the stats field at `offset`. */
static void write_target_family(booka_buf_t *out, const char *name, const char *type, const char *help, size_t offset)
{
    char labels[300];

    booka_metrics_write_header(out, name, type, help);
    for (size_t i = 0; i != edge_settings.targets.size; ++i) {
        const edge_target_conf_t *c = edge_settings.targets.entries + i;
        snprintf(labels, sizeof(labels), "target=\"%s\",endpoint=\"%s\"", c->kind_name, c->endpoint);
        booka_metrics_write_sample(out, name, labels, (double)atomic_load((_Atomic uint64_t *)((char *)c->stats + offset)));
    }
}

void booka_edge_collect_metrics(booka_buf_t *out)
{
    static const char *const decided[] = {"claimed", "elsewhere", "uncoordinated", "alone", "lost", "unchanged"};
    _Atomic uint64_t *counts[] = {&change_stats.claimed, &change_stats.elsewhere, &change_stats.uncoordinated,
                                  &change_stats.alone,   &change_stats.lost,      &change_stats.unchanged};
    static const char *const outcomes[] = {"ok", "retried", "failed"};
    static const size_t outcome_fields[] = {offsetof(edge_target_stats_t, requests_ok),
                                            offsetof(edge_target_stats_t, requests_retried),
                                            offsetof(edge_target_stats_t, requests_failed)};
    char labels[300];

    if (!booka_edge_is_purging())
        return;
    booka_metrics_write_header(out, "booka_edge_changes_total", "counter",
                               "Changes heard, by who purges them: claimed (this instance), elsewhere (another instance), "
                               "uncoordinated (Redis did not answer: purged anyway), alone (no Redis), lost (no purger yet), "
                               "unchanged (the first set-up: nothing written since the last purge).");
    for (size_t i = 0; i != sizeof(decided) / sizeof(decided[0]); ++i) {
        snprintf(labels, sizeof(labels), "decision=\"%s\"", decided[i]);
        booka_metrics_write_sample(out, "booka_edge_changes_total", labels, (double)atomic_load(counts[i]));
    }
    booka_metrics_write_header(out, "booka_edge_purge_requests_total", "counter",
                               "Purge requests by target and outcome: ok, retried (failed, tried again later), failed "
                               "(refused, or failed max-attempts times: its tags were dropped).");
    for (size_t i = 0; i != edge_settings.targets.size; ++i) {
        const edge_target_conf_t *c = edge_settings.targets.entries + i;
        for (size_t k = 0; k != sizeof(outcomes) / sizeof(outcomes[0]); ++k) {
            snprintf(labels, sizeof(labels), "target=\"%s\",endpoint=\"%s\",outcome=\"%s\"", c->kind_name, c->endpoint,
                     outcomes[k]);
            booka_metrics_write_sample(out, "booka_edge_purge_requests_total", labels,
                                       (double)atomic_load((_Atomic uint64_t *)((char *)c->stats + outcome_fields[k])));
        }
    }
    write_target_family(out, "booka_edge_purge_batches_total", "counter",
                        "Purge requests sent, retries included (each carries the tags of one or more changes).",
                        offsetof(edge_target_stats_t, batches));
    write_target_family(out, "booka_edge_purged_tags_total", "counter", "Tags purged, in requests that succeeded.",
                        offsetof(edge_target_stats_t, tags_purged));
    write_target_family(out, "booka_edge_pending_tags", "gauge", "Tags waiting for their purge request.",
                        offsetof(edge_target_stats_t, pending));
}
