/* tiered.c: in-process ▸ Redis ▸ single-flight (in the process, then across instances with a Redis lock) ▸ fill.
 * plugin/cache/README.md has the lookup's states as a table. */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "cache/redis.h"
#include "cache/tiered.h"
#include "http/http.h"

#define POLL_MS 20          /* how often a waiting instance looks for another instance's fill in Redis */
#define LOCK_TOKEN_BYTES 16 /* random bytes naming one fill's hold on the cross-instance lock (hex in Redis) */
#define LOCK_KEY_MAX 1024   /* "<key>:lock" longer than this: no cross-instance lock for that key */

const char *const booka_cache_outcome_names[] = {"HIT", "MISS", "STALE"};
booka_cache_stats_t booka_cache_stats;

struct booka_cache_fill {
    struct booka_cache_lookup *lookup;
};

/* Where a lookup is on its way. At most one thing is outstanding in each state (the Redis command, the flight waiter,
 * the poll timer or the fill), and that thing holds a reference. */
typedef enum lookup_state {
    LOOKING_UP, /* GET of the key on Redis in flight (the in-process tier missed) */
    FOLLOWING,  /* a flight waiter: another request of this process fills the key */
    LOCKING,    /* the flight's leader: SET NX PX of the cross-instance lock in flight */
    CHECKING,   /* holding the lock: GET in flight, since a fill may have landed between our first GET and the lock */
    POLLING,    /* another instance holds the lock: the poll timer, or its EXISTS or GET, until its value or wait_ms */
    FILLING,    /* the fill function runs; booka_cache_fill_done ends it */
    DONE,       /* answered; freed when the last reference goes */
} lookup_state_t;

/* booka_cache_lookup_t: freed when `refs` reaches 0. A reference is held by: the request, from booka_cache_lookup until
 * `cb` runs or booka_cache_abandon (`answered` tells); the Redis command in flight; the flight waiter; the linked poll
 * timer; the running fill; and each of our entry points while it runs (booka_cache_lookup; a callback inherits the
 * reference of the command, waiter, timer or fill that called it, and drops it on return). */
struct booka_cache_lookup {
    h2o_context_t *ctx;
    booka_cache_store_t *store;
    booka_cache_policy_t policy;
    h2o_iovec_t key;
    booka_cache_fill_fn fill;
    void *fill_arg;
    void (*fill_arg_free)(void *);
    booka_cache_done_cb cb; /* NULL for a background refresh */
    void *data;
    booka_trace_t trace; /* the request's id, and the time its Redis commands and its fill took */
    struct booka_cache_fill fill_handle;
    lookup_state_t state;
    unsigned refs;
    booka_redis_command_t *redis_cmd;          /* LOOKING_UP, LOCKING, CHECKING, POLLING: the command in flight, or NULL */
    booka_flight_waiter_t *waiter;             /* FOLLOWING */
    h2o_timeout_entry_t poll_entry;            /* POLLING, between polls */
    uint64_t wait_until;                       /* POLLING: when to stop waiting for the other instance */
    char lock_token[LOCK_TOKEN_BYTES * 2 + 1]; /* the lock's value while we try for it or hold it */
    unsigned answered : 1;                     /* the request has had its answer, or went away (or there is none) */
    unsigned leader : 1;                       /* we hold the in-process flight for the key: we must land it */
    unsigned holds_lock : 1;                   /* we hold the cross-instance fill lock in Redis: we must release it */
    unsigned lock_seen : 1;                    /* POLLING: the last EXISTS found the other instance's lock */
};

/* Per thread: the timeout POLL_MS uses (libh2o 2.2 timeouts have a fixed duration). */
static __thread h2o_timeout_t *poll_timeout;

static void begin_flight(booka_cache_lookup_t *l);

static void free_lookup(booka_cache_lookup_t *l)
{
    if (l->fill_arg_free != NULL)
        l->fill_arg_free(l->fill_arg);
    free(l->key.base);
    free(l);
}

/* hold / drop: one reference more or less (see booka_cache_lookup_t); the last drop frees the lookup. */
static booka_cache_lookup_t *hold(booka_cache_lookup_t *l)
{
    ++l->refs;
    return l;
}

static void drop(booka_cache_lookup_t *l)
{
    if (--l->refs == 0)
        free_lookup(l);
}

/* deliver: hands `value` (its reference goes with it) to the request, unless it already had its answer or went away;
 * ends the lookup (DONE). The caller holds a reference of its own, so the lookup outlives the call. */
static void deliver(booka_cache_lookup_t *l, booka_cache_outcome_t outcome, booka_cache_value_t *value)
{
    _Atomic uint64_t *counter = outcome == BOOKA_CACHE_HIT     ? &booka_cache_stats.hits
                                : outcome == BOOKA_CACHE_STALE ? &booka_cache_stats.stale
                                                               : &booka_cache_stats.misses;
    l->state = DONE;
    if (l->answered) {
        booka_cache_value_release(value);
        return;
    }
    l->answered = 1;
    atomic_fetch_add(counter, 1);
    l->cb(l->data, outcome, value, &l->trace);
    /* the request's reference; never the last one (the caller holds its own), so not drop(): a free here would be
     * followed by the caller's drop, which GCC 12 at -O3 reports as a use after free (-Wuse-after-free) */
    assert(l->refs > 1);
    --l->refs;
}

/* new_lookup: a lookup without references; the caller takes the ones it needs. */
static booka_cache_lookup_t *new_lookup(h2o_context_t *ctx, booka_cache_store_t *store, const booka_cache_policy_t *policy,
                                        h2o_iovec_t key, booka_cache_fill_fn fill, void *fill_arg, void (*fill_arg_free)(void *),
                                        booka_cache_done_cb cb, void *data, h2o_iovec_t request_id)
{
    booka_cache_lookup_t *l = h2o_mem_alloc(sizeof(*l));
    *l = (booka_cache_lookup_t){.ctx = ctx,
                                .store = store,
                                .policy = *policy,
                                .key = h2o_strdup(NULL, key.base, key.len),
                                .fill = fill,
                                .fill_arg = fill_arg,
                                .fill_arg_free = fill_arg_free,
                                .cb = cb,
                                .data = data,
                                .answered = cb == NULL};
    l->fill_handle.lookup = l;
    booka_trace_init(&l->trace, request_id);
    return l;
}

/* lock_key: "<key>:lock" into buf (LOCK_KEY_MAX bytes); returns its length, 0 when it does not fit (then no lock). */
static size_t lock_key(const booka_cache_lookup_t *l, char *buf)
{
    if (l->key.len + 5 >= LOCK_KEY_MAX)
        return 0;
    return (size_t)snprintf(buf, LOCK_KEY_MAX, "%.*s:lock", (int)l->key.len, l->key.base);
}

/* redis_send: one command on the thread's Redis connection, in `state`; 0 when sent (on_reply follows, with the
 * reference taken here), -1 when Redis is not up. */
static int redis_send(booka_cache_lookup_t *l, lookup_state_t state, int argc, const char **argv, const size_t *argv_len,
                      booka_redis_reply_cb on_reply)
{
    if ((l->redis_cmd = booka_redis_command(l->ctx, argc, argv, argv_len, on_reply, l, &l->trace)) == NULL)
        return -1;
    l->state = state;
    hold(l);
    return 0;
}

/* on_redis_reply: the start of every reply callback: the command is no longer in flight (its reference is the
 * callback's now, dropped on return). */
static booka_cache_lookup_t *on_redis_reply(void *data)
{
    booka_cache_lookup_t *l = data;
    l->redis_cmd = NULL;
    return l;
}

static void redis_forget(booka_cache_lookup_t *l, int argc, const char **argv, const size_t *argv_len)
{
    booka_redis_command_t *cmd = booka_redis_command(l->ctx, argc, argv, argv_len, NULL, NULL, NULL);
    if (cmd != NULL)
        booka_redis_cancel(cmd); /* fire and forget: nobody waits for the reply */
}

/* start_fill: FILLING; the fill holds a reference until booka_cache_fill_done (possibly inside this call). */
static void start_fill(booka_cache_lookup_t *l)
{
    l->state = FILLING;
    hold(l);
    atomic_fetch_add(&booka_cache_stats.fills, 1);
    l->fill(l->ctx, &l->fill_handle, l->fill_arg);
}

/* refresh_in_background: one refresh of a stale key, unless a fill for it is already under way in this process. The
 * refresh is a lookup of its own with no request (answered from the start), which takes over the fill argument. */
static void refresh_in_background(booka_cache_lookup_t *served)
{
    booka_cache_lookup_t *r;
    booka_flight_waiter_t *waiter;

    if (served->fill == NULL)
        return;
    r = new_lookup(served->ctx, served->store, &served->policy, served->key, served->fill, served->fill_arg, served->fill_arg_free,
                   NULL, NULL, h2o_iovec_init(NULL, 0));
    served->fill_arg = NULL, served->fill_arg_free = NULL;
    if (booka_flight_begin(r->ctx, r->key.base, r->key.len, 0, NULL, NULL, &waiter) != BOOKA_FLIGHT_LEAD) {
        booka_flight_cancel(waiter);
        free_lookup(r); /* never held */
        return;
    }
    r->leader = 1;
    atomic_fetch_add(&booka_cache_stats.refreshes, 1);
    start_fill(r);
}

/* serve_cached: a value found in a tier: HIT while fresh, STALE (and a refresh) after. */
static void serve_cached(booka_cache_lookup_t *l, booka_cache_value_t *v)
{
    if (booka_cache_now() < v->fresh_until) {
        deliver(l, BOOKA_CACHE_HIT, v);
    } else {
        deliver(l, BOOKA_CACHE_STALE, v);
        refresh_in_background(l);
    }
}

/* land_from_redis: the leader found the key's value in Redis (another instance filled it): it goes to this process's
 * tier, to the flight's followers and to the request. */
static void land_from_redis(booka_cache_lookup_t *l, booka_cache_value_t *v)
{
    booka_cache_store_put(l->store, l->key.base, l->key.len, v);
    atomic_fetch_add(&booka_cache_stats.coalesced, 1);
    booka_flight_land(l->key.base, l->key.len, v);
    l->leader = 0;
    deliver(l, BOOKA_CACHE_HIT, v);
}

static booka_cache_value_t *value_from_reply(redisReply *reply)
{
    if (reply == NULL || reply->type != REDIS_REPLY_STRING)
        return NULL;
    return booka_cache_deserialize(reply->str, reply->len);
}

/* POLLING: EXISTS on the lock first, then GET on the value. The filler writes the value before it deletes the lock, so a
 * GET issued after the lock was seen gone finds the value if there is one: the two steps in the other order would let a
 * fill land between them and be missed. */
static void poll_later(booka_cache_lookup_t *l)
{
    l->state = POLLING;
    h2o_timeout_link(l->ctx->loop, poll_timeout, &hold(l)->poll_entry);
}

static void on_poll_value_reply(void *data, redisReply *reply)
{
    booka_cache_lookup_t *l = on_redis_reply(data);
    booka_cache_value_t *v = value_from_reply(reply);

    if (v != NULL && booka_cache_now() < v->fresh_until) {
        land_from_redis(l, v);
    } else {
        booka_cache_value_release(v);
        if (!l->lock_seen || booka_cache_now() >= l->wait_until)
            start_fill(l); /* the other instance's fill failed or died (no lock, no value), or took too long */
        else
            poll_later(l);
    }
    drop(l);
}

static void on_poll_lock_reply(void *data, redisReply *reply)
{
    booka_cache_lookup_t *l = on_redis_reply(data);
    const char *argv[] = {"GET", l->key.base};
    size_t len[] = {3, l->key.len};

    l->lock_seen = reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    if (redis_send(l, POLLING, 2, argv, len, on_poll_value_reply) != 0)
        start_fill(l);
    drop(l);
}

static void on_poll_tick(h2o_timeout_entry_t *entry)
{
    booka_cache_lookup_t *l = H2O_STRUCT_FROM_MEMBER(booka_cache_lookup_t, poll_entry, entry); /* the timer's reference */
    char lock[LOCK_KEY_MAX];
    const char *argv[] = {"EXISTS", lock};
    size_t len[] = {6, lock_key(l, lock)};

    if (redis_send(l, POLLING, 2, argv, len, on_poll_lock_reply) != 0)
        start_fill(l);
    drop(l);
}

static void release_lock(booka_cache_lookup_t *l);

/* on_locked_value_reply: CHECKING: holding the lock, the value may already be there (see on_lock_reply); else we fill. */
static void on_locked_value_reply(void *data, redisReply *reply)
{
    booka_cache_lookup_t *l = on_redis_reply(data);
    booka_cache_value_t *v = value_from_reply(reply);

    if (v != NULL && booka_cache_now() < v->fresh_until) {
        release_lock(l);
        land_from_redis(l, v);
    } else {
        booka_cache_value_release(v);
        start_fill(l);
    }
    drop(l);
}

/* on_lock_reply: LOCKING: we hold the lock (CHECKING next), another instance does (POLLING), or Redis failed (FILLING). */
static void on_lock_reply(void *data, redisReply *reply)
{
    booka_cache_lookup_t *l = on_redis_reply(data);

    if (reply != NULL && reply->type == REDIS_REPLY_NIL) {
        /* another instance holds the fill lock: wait for its value, but not for longer than wait_ms */
        if (poll_timeout == NULL) {
            poll_timeout = h2o_mem_alloc(sizeof(*poll_timeout));
            h2o_timeout_init(l->ctx->loop, poll_timeout, POLL_MS);
        }
        l->wait_until = booka_cache_now() + l->policy.wait_ms;
        l->poll_entry.cb = on_poll_tick;
        poll_later(l);
    } else if ((l->holds_lock = reply != NULL && reply->type == REDIS_REPLY_STATUS)) {
        /* double-check: a fill that finished between our first GET and the lock wrote its value before freeing the lock */
        const char *argv[] = {"GET", l->key.base};
        size_t len[] = {3, l->key.len};
        if (redis_send(l, CHECKING, 2, argv, len, on_locked_value_reply) != 0)
            start_fill(l);
    } else {
        start_fill(l); /* Redis failed: this instance fills */
    }
    drop(l);
}

/* new_lock_token: a fresh random token into l->lock_token; -1 when the random source fails (then no lock is used). */
static int new_lock_token(booka_cache_lookup_t *l)
{
    unsigned char raw[LOCK_TOKEN_BYTES];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    h2o_hex_encode(l->lock_token, raw, sizeof(raw));
    return 0;
}

/* lead: this request fills for the process; across instances, only the holder of the Redis lock does. The lock's value
 * is a token of this fill alone, so that releasing it (release_lock) cannot delete a lock another fill took after ours
 * expired. */
static void lead(booka_cache_lookup_t *l)
{
    char lock[LOCK_KEY_MAX], ttl[24];
    const char *argv[] = {"SET", lock, l->lock_token, "NX", "PX", ttl};
    size_t len[6] = {3, lock_key(l, lock), LOCK_TOKEN_BYTES * 2, 2, 2, 0};

    l->leader = 1;
    if (len[1] != 0 && new_lock_token(l) == 0) {
        len[5] = (size_t)snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)l->policy.lock_ms);
        if (redis_send(l, LOCKING, 6, argv, len, on_lock_reply) == 0)
            return;
    }
    start_fill(l);
}

/* on_flight_landed: FOLLOWING ends: the leader's value, or NULL when it failed or took longer than wait_ms. */
static void on_flight_landed(void *data, booka_cache_value_t *value)
{
    booka_cache_lookup_t *l = data; /* the waiter's reference */

    l->waiter = NULL;
    if (value == NULL) {
        start_fill(l);
    } else {
        atomic_fetch_add(&booka_cache_stats.coalesced, 1);
        deliver(l, value->status == 200 ? BOOKA_CACHE_HIT : BOOKA_CACHE_MISS, value);
    }
    drop(l);
}

/* begin_flight: FOLLOWING (the waiter holds a reference), or the lead. */
static void begin_flight(booka_cache_lookup_t *l)
{
    if (booka_flight_begin(l->ctx, l->key.base, l->key.len, l->policy.wait_ms, on_flight_landed, l, &l->waiter) ==
        BOOKA_FLIGHT_LEAD) {
        lead(l);
    } else {
        l->state = FOLLOWING;
        hold(l);
    }
}

/* on_redis_get: LOOKING_UP ends: a servable value (HIT or STALE), or single-flight. */
static void on_redis_get(void *data, redisReply *reply)
{
    booka_cache_lookup_t *l = on_redis_reply(data);
    booka_cache_value_t *v = value_from_reply(reply);

    if (v != NULL && booka_cache_now() < v->stale_until) {
        atomic_fetch_add(&booka_cache_stats.redis_hits, 1);
        booka_cache_store_put(l->store, l->key.base, l->key.len, v);
        serve_cached(l, v);
    } else {
        booka_cache_value_release(v);
        begin_flight(l);
    }
    drop(l);
}

booka_cache_lookup_t *booka_cache_lookup(h2o_context_t *ctx, booka_cache_store_t *store, const booka_cache_policy_t *policy,
                                         h2o_iovec_t key, booka_cache_fill_fn fill, void *fill_arg, void (*fill_arg_free)(void *),
                                         booka_cache_done_cb cb, void *data, h2o_iovec_t request_id)
{
    static const booka_trace_t no_work;
    booka_cache_value_t *v = booka_cache_store_get(store, key.base, key.len);
    booka_cache_lookup_t *l;
    int answered;

    /* the hot path: a fresh in-process hit needs no lookup object at all */
    if (v != NULL && booka_cache_now() < v->fresh_until) {
        if (fill_arg_free != NULL)
            fill_arg_free(fill_arg);
        atomic_fetch_add(&booka_cache_stats.hits, 1);
        cb(data, BOOKA_CACHE_HIT, v, &no_work);
        return NULL;
    }
    l = hold(
        hold(new_lookup(ctx, store, policy, key, fill, fill_arg, fill_arg_free, cb, data, request_id))); /* the request's, ours */
    const char *argv[] = {"GET", l->key.base};
    size_t len[] = {3, l->key.len};

    if (v != NULL)
        serve_cached(l, v);
    else if (redis_send(l, LOOKING_UP, 2, argv, len, on_redis_get) != 0)
        begin_flight(l);
    answered = l->answered; /* a hit, or a fill that answered at once (e.g. the database refused) */
    drop(l);
    return answered ? NULL : l; /* unanswered, the request's reference keeps it */
}

booka_cache_value_t *booka_cache_get_fresh(booka_cache_store_t *store, h2o_iovec_t key)
{
    booka_cache_value_t *v = booka_cache_store_get(store, key.base, key.len);

    if (v != NULL && booka_cache_now() < v->fresh_until) {
        atomic_fetch_add(&booka_cache_stats.hits, 1);
        return v;
    }
    booka_cache_value_release(v);
    return NULL;
}

/* booka_cache_abandon: what is outstanding for the request alone (LOOKING_UP's command, FOLLOWING's waiter) is
 * cancelled; a leader keeps going (LOCKING, CHECKING, POLLING, FILLING) so that its followers and the caches still get
 * the value, and so does a fill already running. */
void booka_cache_abandon(booka_cache_lookup_t *l)
{
    if (l == NULL || l->answered)
        return;
    l->answered = 1;
    switch (l->state) {
    case LOOKING_UP:
        booka_redis_cancel(l->redis_cmd);
        l->redis_cmd = NULL;
        --l->refs; /* the command's; the request's is left, so the lookup cannot go here */
        break;
    case FOLLOWING:
        booka_flight_cancel(l->waiter);
        l->waiter = NULL;
        --l->refs; /* the waiter's */
        break;
    default:
        break;
    }
    drop(l); /* the request's */
}

/* RELEASE_SCRIPT: compare-and-delete, atomic in Redis: the lock goes only while it still holds our token. Sent with
 * EVAL each time (Redis caches the compiled script by its digest): EVALSHA would save ~90 bytes per fill but needs a
 * NOSCRIPT fallback after every Redis restart or SCRIPT FLUSH. */
#define RELEASE_SCRIPT "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

/* release_lock: deletes our cross-instance fill lock, if we hold it and it is still ours (after the value was written:
 * pollers rely on it). */
static void release_lock(booka_cache_lookup_t *l)
{
    char lock[LOCK_KEY_MAX];
    const char *argv[] = {"EVAL", RELEASE_SCRIPT, "1", lock, l->lock_token};
    size_t len[] = {4, sizeof(RELEASE_SCRIPT) - 1, 1, 0, LOCK_TOKEN_BYTES * 2};

    if (!l->holds_lock)
        return;
    len[3] = lock_key(l, lock);
    redis_forget(l, 5, argv, len);
    l->holds_lock = 0;
}

booka_trace_t *booka_cache_fill_trace(booka_cache_fill_t *fill)
{
    return &fill->lookup->trace;
}

/* out_of_memory_value: the answer of a fill whose value could not be allocated (its body may be large; this one is
 * small): a 503, which is never stored. Aborts, as h2o_mem_alloc does, when even this cannot be had. */
static booka_cache_value_t *out_of_memory_value(booka_cache_lookup_t *l, size_t body_len, uint64_t now)
{
    static const char body[] = "{\"detail\": \"" BOOKA_OUT_OF_MEMORY "\"}";
    booka_cache_value_t *v;

    booka_log_id(l->trace.request_id, "cache", "out of memory for a value of %zu bytes: answering 503", body_len);
    if ((v = booka_cache_value_new(h2o_iovec_init(body, sizeof(body) - 1), h2o_iovec_init(NULL, 0),
                                   h2o_iovec_init(H2O_STRLIT("application/json")), 503, now, now, now)) == NULL)
        h2o_fatal("no memory");
    return v;
}

/* store_everywhere: a 200 goes to the process's tier and to Redis, unless its lifetime is zero (cache-ttl and
 * cache-stale 0 store nothing). */
static void store_everywhere(booka_cache_lookup_t *l, booka_cache_value_t *v, uint64_t now)
{
    booka_buf_t bytes = {NULL};
    char ttl[24];

    if (v->stale_until <= now)
        return;
    booka_cache_store_put(l->store, l->key.base, l->key.len, v);
    booka_cache_serialize(v, &bytes);
    if (!bytes.oom) {
        const char *argv[] = {"SET", l->key.base, bytes.base, "PX", ttl};
        size_t len[] = {3, l->key.len, bytes.len, 2,
                        (size_t)snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)(v->stale_until - now))};
        redis_forget(l, 5, argv, len);
    }
    booka_buf_free(&bytes);
}

/* booka_cache_fill_done: FILLING ends: stored (a 200), the lock released, the flight landed, the request answered (a
 * stale copy rather than an error when there is one); then the fill's reference goes. */
void booka_cache_fill_done(booka_cache_fill_t *fill, int status, h2o_iovec_t body, h2o_iovec_t etag, h2o_iovec_t content_type)
{
    booka_cache_lookup_t *l = fill->lookup;
    uint64_t now = booka_cache_now(), jitter = l->policy.jitter_ms != 0 ? (uint64_t)rand() % (l->policy.jitter_ms + 1) : 0;
    uint64_t fresh_until = now + (l->policy.fresh_ms > jitter ? l->policy.fresh_ms - jitter : 0);
    booka_cache_value_t *v =
        booka_cache_value_new(body, etag, content_type, status, now, fresh_until, fresh_until + l->policy.stale_ms);
    booka_cache_value_t *stale;

    if (v == NULL)
        status = (v = out_of_memory_value(l, body.len, now))->status;
    if (status == 200)
        store_everywhere(l, v, now);
    else
        atomic_fetch_add(&booka_cache_stats.fill_errors, 1);
    release_lock(l); /* success or failure: the other instances stop waiting for us */
    if (l->leader) {
        booka_flight_land(l->key.base, l->key.len, v);
        l->leader = 0;
    }
    if (status != 200 && (stale = booka_cache_store_get(l->store, l->key.base, l->key.len)) != NULL) {
        booka_cache_value_release(v);
        deliver(l, BOOKA_CACHE_STALE, stale); /* stale-if-error */
    } else {
        deliver(l, BOOKA_CACHE_MISS, v);
    }
    drop(l); /* the fill's */
}

/* Redis representation: "BKC1" status:u16 created:u64 fresh:u64 stale:u64 etag_len:u16 type_len:u16 etag type body,
 * integers big-endian. */
static void put_be(booka_buf_t *b, uint64_t v, int bytes)
{
    char tmp[8];
    for (int i = 0; i != bytes; ++i)
        tmp[i] = (char)(v >> (8 * (bytes - 1 - i)));
    booka_buf_append(b, tmp, bytes);
}

static uint64_t get_be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i != bytes; ++i)
        v = v << 8 | p[i];
    return v;
}

#define HEADER_LEN (4 + 2 + 8 + 8 + 8 + 2 + 2)

void booka_cache_serialize(const booka_cache_value_t *v, booka_buf_t *out)
{
    booka_buf_append(out, "BKC1", 4);
    put_be(out, (uint64_t)v->status, 2);
    put_be(out, v->created_at, 8);
    put_be(out, v->fresh_until, 8);
    put_be(out, v->stale_until, 8);
    put_be(out, v->etag.len, 2);
    put_be(out, v->content_type.len, 2);
    booka_buf_append(out, v->etag.base, v->etag.len);
    booka_buf_append(out, v->content_type.base, v->content_type.len);
    booka_buf_append(out, v->body.base, v->body.len);
}

/* is_entity_tag: RFC 9110 section 8.8.3, [W/] DQUOTE *etagc DQUOTE with etagc %x21 / %x23-7E (we never emit obs-text). */
static int is_entity_tag(h2o_iovec_t s)
{
    size_t i = s.len >= 2 && s.base[0] == 'W' && s.base[1] == '/' ? 2 : 0;

    if (s.len < i + 2 || s.base[i] != '"' || s.base[s.len - 1] != '"')
        return 0;
    for (++i; i != s.len - 1; ++i)
        if (s.base[i] < 0x21 || s.base[i] == '"' || s.base[i] > 0x7e)
            return 0;
    return 1;
}

/* is_media_type: a Content-Type value as we emit them ("application/json", "image/webp; charset=..."): visible ASCII
 * with single spaces inside, nothing that could end or split a header line. */
static int is_media_type(h2o_iovec_t s)
{
    if (s.len == 0 || s.base[0] == ' ' || s.base[s.len - 1] == ' ')
        return 0;
    for (size_t i = 0; i != s.len; ++i)
        if (s.base[i] < 0x20 || s.base[i] > 0x7e)
            return 0;
    return 1;
}

/* is_servable: whether a value read back from Redis can be sent as it is. Anyone who can write to Redis can put bytes
 * there, and the ETag and Content-Type go out as header values (CR LF in one would split an HTTP/1 response). Only
 * 200s are ever written, with fresh_until <= stale_until. */
static int is_servable(const booka_cache_value_t *v)
{
    return v->status == 200 && v->fresh_until <= v->stale_until && is_entity_tag(v->etag) && is_media_type(v->content_type);
}

booka_cache_value_t *booka_cache_deserialize(const char *bytes, size_t len)
{
    const unsigned char *p = (const unsigned char *)bytes;
    size_t etag_len, type_len;
    booka_cache_value_t *v;

    if (len < HEADER_LEN || memcmp(p, "BKC1", 4) != 0)
        return NULL;
    etag_len = get_be(p + 30, 2);
    type_len = get_be(p + 32, 2);
    if (len < HEADER_LEN + etag_len + type_len)
        return NULL;
    v = booka_cache_value_new(h2o_iovec_init(bytes + HEADER_LEN + etag_len + type_len, len - HEADER_LEN - etag_len - type_len),
                              h2o_iovec_init(bytes + HEADER_LEN, etag_len), h2o_iovec_init(bytes + HEADER_LEN + etag_len, type_len),
                              (int)get_be(p + 4, 2), get_be(p + 6, 8), get_be(p + 14, 8), get_be(p + 22, 8));
    if (v != NULL && !is_servable(v)) {
        booka_cache_value_release(v);
        return NULL;
    }
    return v;
}
