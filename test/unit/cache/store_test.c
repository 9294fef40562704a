/* store_test.c: the in-process tier keeps, replaces, expires and evicts as promised; single-flight delivers one fill to
 * followers on any thread, gives up at the deadline, and honours cancellation. */
#include <pthread.h>
#include <stdatomic.h>
#include "unit.h"
#include "cache/store.h"

static booka_cache_value_t *make_value(const char *body, uint64_t fresh_ms, uint64_t stale_ms)
{
    uint64_t now = booka_cache_now();
    return booka_cache_value_new(h2o_iovec_init(body, strlen(body)), h2o_iovec_init(H2O_STRLIT("W/\"e\"")),
                                 h2o_iovec_init(H2O_STRLIT("application/json")), 200, now, now + fresh_ms, now + stale_ms);
}

static void test_put_get_replace_remove(void)
{
    booka_cache_store_t *s = booka_cache_store_create(1 << 20);
    booka_cache_value_t *a = make_value("alpha", 60000, 120000), *b = make_value("beta", 60000, 120000), *got;

    CHECK(booka_cache_store_get(s, "k", 1) == NULL);
    booka_cache_store_put(s, "k", 1, a);
    got = booka_cache_store_get(s, "k", 1);
    CHECK(got == a);
    CHECK(h2o_memis(got->body.base, got->body.len, H2O_STRLIT("alpha")));
    CHECK(h2o_memis(got->etag.base, got->etag.len, H2O_STRLIT("W/\"e\"")));
    booka_cache_value_release(got);
    booka_cache_store_put(s, "k", 1, b);
    got = booka_cache_store_get(s, "k", 1);
    CHECK(got == b);
    booka_cache_value_release(got);
    /* a value outlives its removal while someone holds it */
    got = booka_cache_store_get(s, "k", 1);
    booka_cache_store_remove(s, "k", 1);
    CHECK(booka_cache_store_get(s, "k", 1) == NULL);
    CHECK(h2o_memis(got->body.base, got->body.len, H2O_STRLIT("beta")));
    booka_cache_value_release(got);
    booka_cache_store_stats_t st;
    booka_cache_store_get_stats(s, &st);
    CHECK_INT_EQ(st.entries, 0);
    CHECK_INT_EQ(st.hits, 3);
    booka_cache_value_release(a);
    booka_cache_value_release(b);
    booka_cache_store_destroy(s);
}

static void test_expiry(void)
{
    booka_cache_store_t *s = booka_cache_store_create(1 << 20);
    booka_cache_value_t *stale = make_value("stale", 0, 60000), *dead = make_value("dead", 0, 0), *got;

    booka_cache_store_put(s, "s", 1, stale);
    booka_cache_store_put(s, "d", 1, dead);
    got = booka_cache_store_get(s, "s", 1);
    CHECK(got == stale); /* past fresh_until, within stale_until: returned, the caller decides */
    booka_cache_value_release(got);
    CHECK(booka_cache_store_get(s, "d", 1) == NULL);
    booka_cache_value_release(stale);
    booka_cache_value_release(dead);
    booka_cache_store_destroy(s);
}

static void test_lru_eviction_within_budget(void)
{
    char body[1000], key[32];
    booka_cache_store_t *s = booka_cache_store_create(16 * 64 * 1024); /* 64 KiB per shard */
    booka_cache_store_stats_t st;

    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    for (int i = 0; i != 5000; ++i) {
        booka_cache_value_t *v = make_value(body, 60000, 60000);
        snprintf(key, sizeof(key), "key-%d", i);
        booka_cache_store_put(s, key, strlen(key), v);
        booka_cache_value_release(v);
        if (i % 10 == 0) { /* keep key-0 hot */
            booka_cache_value_t *hot = booka_cache_store_get(s, "key-0", 5);
            CHECK(hot != NULL);
            booka_cache_value_release(hot);
        }
    }
    booka_cache_store_get_stats(s, &st);
    CHECK(st.bytes <= st.max_bytes);
    CHECK(st.evictions > 3000);
    CHECK(st.entries < 2000 && st.entries > 500);
    booka_cache_value_t *hot = booka_cache_store_get(s, "key-0", 5);
    CHECK(hot != NULL);
    booka_cache_value_release(hot);
    CHECK(booka_cache_store_get(s, "key-1", 5) == NULL);
    /* over a quarter of the budget: not stored */
    char *huge = malloc(300000);
    memset(huge, 'y', 299999);
    huge[299999] = '\0';
    booka_cache_value_t *h = make_value(huge, 60000, 60000);
    booka_cache_store_put(s, "huge", 4, h);
    CHECK(booka_cache_store_get(s, "huge", 4) == NULL);
    booka_cache_value_release(h);
    free(huge);
    booka_cache_store_destroy(s);
}

/* make_body_value: a fresh value whose body is `len` bytes of `c`. */
static booka_cache_value_t *make_body_value(size_t len, char c)
{
    char *body = malloc(len + 1);
    booka_cache_value_t *v;

    memset(body, c, len);
    body[len] = '\0';
    v = make_value(body, 60000, 60000);
    free(body);
    return v;
}

/* test_large_entries_within_the_whole_budget: the per-entry limit is a quarter of the whole store, not of one of its 16
 * shards (a 64 MiB originals cache kept nothing over ~1 MB), and a large entry makes room by evicting least recently used
 * entries from every shard, so the store as a whole stays within its budget. */
static void test_large_entries_within_the_whole_budget(void)
{
    char key[32];
    booka_cache_store_t *s = booka_cache_store_create(4 << 20); /* 4 MiB: 256 KiB per shard */
    booka_cache_store_stats_t st;
    booka_cache_value_t *v, *got;

    /* 3 MiB of small entries in every shard */
    for (int i = 0; i != 3 * 1024; ++i) {
        v = make_body_value(900, 's');
        snprintf(key, sizeof(key), "small-%d", i);
        booka_cache_store_put(s, key, strlen(key), v);
        booka_cache_value_release(v);
    }
    booka_cache_store_get_stats(s, &st);
    CHECK_INT_EQ(st.evictions, 0);
    /* three entries of 900 KiB: each more than its shard's share, each under a quarter of the store */
    for (int i = 0; i != 3; ++i) {
        v = make_body_value(900 * 1024, 'L');
        snprintf(key, sizeof(key), "large-%d", i);
        booka_cache_store_put(s, key, strlen(key), v);
        booka_cache_value_release(v);
        got = booka_cache_store_get(s, key, strlen(key));
        CHECK(got != NULL && got->body.len == 900 * 1024);
        booka_cache_value_release(got);
        booka_cache_store_get_stats(s, &st);
        CHECK(st.bytes <= st.max_bytes);
    }
    for (int i = 0; i != 3; ++i) { /* the older large ones were used more recently than the small ones: still there */
        snprintf(key, sizeof(key), "large-%d", i);
        got = booka_cache_store_get(s, key, strlen(key));
        CHECK(got != NULL);
        booka_cache_value_release(got);
    }
    booka_cache_store_get_stats(s, &st);
    CHECK(st.evictions > 1000);                               /* small entries made room, from many shards */
    CHECK(st.entries > 3 && st.bytes > st.max_bytes * 3 / 4); /* and not more than needed */
    CHECK(booka_cache_store_get(s, "small-0", 7) == NULL);    /* the least recently used went first */
    /* a value over a quarter of the store is refused and evicts nothing */
    uint64_t evictions = st.evictions;
    v = make_body_value((4 << 20) / 4 + 1, 'H');
    booka_cache_store_put(s, "huge", 4, v);
    booka_cache_value_release(v);
    CHECK(booka_cache_store_get(s, "huge", 4) == NULL);
    booka_cache_store_get_stats(s, &st);
    CHECK_INT_EQ(st.evictions, evictions);
    booka_cache_store_destroy(s);
}

struct putter {
    booka_cache_store_t *store;
    int id;
};

static void *put_many(void *arg)
{
    struct putter *p = arg;
    char key[32];

    for (int i = 0; i != 2000; ++i) {
        booka_cache_value_t *v = make_body_value((size_t)(i % 7 == 0 ? 40000 : 500 + i % 3000), 'p');
        snprintf(key, sizeof(key), "t%d-%d", p->id, i % 1500);
        booka_cache_store_put(p->store, key, strlen(key), v);
        booka_cache_value_release(v);
        if ((v = booka_cache_store_get(p->store, key, strlen(key))) != NULL)
            booka_cache_value_release(v);
    }
    return NULL;
}

/* test_budget_under_concurrent_puts: four threads putting and replacing entries of mixed sizes, the largest more than a
 * shard's share: once they are done, the store is within its budget and its accounting adds up. */
static void test_budget_under_concurrent_puts(void)
{
    booka_cache_store_t *s = booka_cache_store_create(1 << 20);
    struct putter putters[4];
    pthread_t tids[4];
    booka_cache_store_stats_t st;

    for (int i = 0; i != 4; ++i) {
        putters[i] = (struct putter){s, i};
        pthread_create(&tids[i], NULL, put_many, &putters[i]);
    }
    for (int i = 0; i != 4; ++i)
        pthread_join(tids[i], NULL);
    booka_cache_store_get_stats(s, &st);
    CHECK(st.bytes <= st.max_bytes);
    CHECK(st.bytes > st.max_bytes / 2);
    CHECK(st.evictions > 0);
    booka_cache_store_clear(s);
    booka_cache_store_get_stats(s, &st);
    CHECK_INT_EQ(st.bytes, 0);
    CHECK_INT_EQ(st.entries, 0);
    booka_cache_store_destroy(s);
}

/* single-flight */
static h2o_globalconf_t globalconf;

struct outcome {
    int called;
    booka_cache_value_t *value;
};

static void on_flight(void *data, booka_cache_value_t *value)
{
    struct outcome *o = data;
    ++o->called;
    o->value = value;
}

static void run_until(h2o_context_t *ctx, int *flag, int want)
{
    for (int i = 0; i != 200 && *flag < want; ++i)
        h2o_evloop_run(ctx->loop, 10);
}

static void dispose_context(h2o_context_t *ctx)
{
    h2o_evloop_t *loop = ctx->loop;
    booka_flight_context_dispose(ctx);
    h2o_context_dispose(ctx);
    h2o_evloop_destroy(loop);
}

struct follower_thread {
    booka_flight_role_t role;
    struct outcome outcome;
    h2o_context_t ctx;
    pthread_barrier_t *joined;
};

static void *follow_from_another_thread(void *arg)
{
    struct follower_thread *t = arg;
    booka_flight_waiter_t *w;
    h2o_context_init(&t->ctx, h2o_evloop_create(), &globalconf);
    t->role = booka_flight_begin(&t->ctx, "cross", 5, 5000, on_flight, &t->outcome, &w);
    pthread_barrier_wait(t->joined);
    run_until(&t->ctx, &t->outcome.called, 1);
    dispose_context(&t->ctx);
    return NULL;
}

static void test_flight(h2o_context_t *ctx)
{
    booka_flight_waiter_t *w1, *w2, *w3;
    struct outcome o1 = {0}, o2 = {0}, o3 = {0};
    booka_cache_value_t *v = make_value("filled", 60000, 60000);

    CHECK(booka_flight_begin(ctx, "k", 1, 5000, on_flight, NULL, &w1) == BOOKA_FLIGHT_LEAD);
    CHECK(booka_flight_begin(ctx, "k", 1, 5000, on_flight, &o1, &w1) == BOOKA_FLIGHT_FOLLOW);
    CHECK(booka_flight_begin(ctx, "k", 1, 5000, on_flight, &o2, &w2) == BOOKA_FLIGHT_FOLLOW);
    CHECK(booka_flight_begin(ctx, "k", 1, 5000, on_flight, &o3, &w3) == BOOKA_FLIGHT_FOLLOW);
    booka_flight_cancel(w3);
    CHECK(booka_flight_begin(ctx, "other", 5, 5000, on_flight, NULL, &w1) == BOOKA_FLIGHT_LEAD);
    CHECK_INT_EQ(booka_flight_land("k", 1, v), 2);
    CHECK(o1.called == 0); /* delivered through the loop, never inside land */
    run_until(ctx, &o2.called, 1);
    CHECK(o1.called == 1 && o1.value == v);
    CHECK(o2.called == 1 && o2.value == v);
    CHECK(o3.called == 0);
    booka_cache_value_release(o1.value);
    booka_cache_value_release(o2.value);
    CHECK_INT_EQ(booka_flight_land("other", 5, NULL), 0);
    /* after landing, the next miss leads again */
    CHECK(booka_flight_begin(ctx, "k", 1, 5000, on_flight, NULL, &w1) == BOOKA_FLIGHT_LEAD);

    /* a follower whose leader never lands gives up at its deadline with NULL */
    struct outcome late = {0};
    CHECK(booka_flight_begin(ctx, "k", 1, 50, on_flight, &late, &w1) == BOOKA_FLIGHT_FOLLOW);
    run_until(ctx, &late.called, 1);
    CHECK(late.called == 1 && late.value == NULL);
    CHECK_INT_EQ(booka_flight_land("k", 1, v), 0);

    /* a follower on another thread gets the value on its own loop */
    pthread_barrier_t joined;
    pthread_t tid;
    struct follower_thread t = {.joined = &joined};
    pthread_barrier_init(&joined, NULL, 2);
    CHECK(booka_flight_begin(ctx, "cross", 5, 5000, on_flight, NULL, &w1) == BOOKA_FLIGHT_LEAD);
    pthread_create(&tid, NULL, follow_from_another_thread, &t);
    pthread_barrier_wait(&joined);
    CHECK_INT_EQ(booka_flight_land("cross", 5, v), 1);
    pthread_join(tid, NULL);
    CHECK(t.role == BOOKA_FLIGHT_FOLLOW);
    CHECK(t.outcome.called == 1 && t.outcome.value == v);
    booka_cache_value_release(t.outcome.value);
    CHECK_INT_EQ(atomic_load(&v->_refcnt), 1);
    booka_cache_value_release(v);
}

int main(void)
{
    h2o_context_t ctx;

    test_put_get_replace_remove();
    test_expiry();
    test_lru_eviction_within_budget();
    test_large_entries_within_the_whole_budget();
    test_budget_under_concurrent_puts();
    h2o_config_init(&globalconf);
    h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535); /* h2o_context_init wants one */
    h2o_context_init(&ctx, h2o_evloop_create(), &globalconf);
    test_flight(&ctx);
    dispose_context(&ctx);
    h2o_config_dispose(&globalconf);
    return unit_report("cache_store");
}
