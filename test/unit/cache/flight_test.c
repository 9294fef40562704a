/* flight_test.c: single-flight's table of keys in flight under many distinct misses: each key has its own leader, its
 * followers hear only of its landing, and the counts come back to zero. Built with flight.c compiled again WITHOUT
 * NDEBUG (see CMakeLists.txt), so libh2o's own assertions on its lists run, and with freshly allocated memory never
 * zero (M_PERTURB; ASan fills it with 0xbe anyway), so a list node linked uninitialised trips them. */
#include <malloc.h>
#include <stdatomic.h>
#include "unit.h"
#include "cache/store.h"

#define NUM_KEYS 2000

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

static void key_of(int i, char *buf, size_t size)
{
    snprintf(buf, size, "v1:list:0:0:limit=%d&sort=most_booked", i);
}

static void run_until_all_called(h2o_context_t *ctx, struct outcome *o, int n)
{
    for (int turn = 0; turn != 500; ++turn) {
        int done = 1;
        for (int i = 0; i != n && done; ++i)
            done = o[i].called != 0;
        if (done)
            return;
        h2o_evloop_run(ctx->loop, 10);
    }
}

static void test_many_distinct_keys(h2o_context_t *ctx)
{
    static struct outcome followers[NUM_KEYS];
    booka_flight_waiter_t *w;
    booka_cache_value_t *v = booka_cache_value_new(h2o_iovec_init(H2O_STRLIT("{}")), h2o_iovec_init(H2O_STRLIT("W/\"e\"")),
                                                   h2o_iovec_init(H2O_STRLIT("application/json")), 200, 0, 0, 0);
    size_t flights, waiting;
    char key[64];
    int leads = 0, follows = 0, landed = 0;

    for (int i = 0; i != NUM_KEYS; ++i) {
        key_of(i, key, sizeof(key));
        leads += booka_flight_begin(ctx, key, strlen(key), 5000, on_flight, NULL, &w) == BOOKA_FLIGHT_LEAD;
    }
    for (int i = 0; i != NUM_KEYS; ++i) {
        key_of(i, key, sizeof(key));
        follows += booka_flight_begin(ctx, key, strlen(key), 5000, on_flight, &followers[i], &w) == BOOKA_FLIGHT_FOLLOW;
    }
    CHECK_INT_EQ(leads, NUM_KEYS);
    CHECK_INT_EQ(follows, NUM_KEYS);
    booka_flight_counts(&flights, &waiting);
    CHECK_INT_EQ(flights, NUM_KEYS);
    CHECK_INT_EQ(waiting, NUM_KEYS);
    /* a key that only shares a prefix with the others is a flight of its own */
    CHECK(booka_flight_begin(ctx, "v1:list:0:0:limit=1", 19, 5000, on_flight, NULL, &w) == BOOKA_FLIGHT_LEAD);
    CHECK_INT_EQ(booka_flight_land("v1:list:0:0:limit=1", 19, NULL), 0);
    for (int i = NUM_KEYS - 1; i >= 0; --i) {
        key_of(i, key, sizeof(key));
        landed += (int)booka_flight_land(key, strlen(key), v);
    }
    CHECK_INT_EQ(landed, NUM_KEYS);
    run_until_all_called(ctx, followers, NUM_KEYS);
    for (int i = 0; i != NUM_KEYS; ++i) {
        CHECK(followers[i].called == 1 && followers[i].value == v);
        booka_cache_value_release(followers[i].value);
    }
    booka_flight_counts(&flights, &waiting);
    CHECK_INT_EQ(flights, 0);
    CHECK_INT_EQ(waiting, 0);
    key_of(7, key, sizeof(key));
    CHECK(booka_flight_begin(ctx, key, strlen(key), 5000, on_flight, NULL, &w) == BOOKA_FLIGHT_LEAD); /* leads anew */
    CHECK_INT_EQ(booka_flight_land(key, strlen(key), NULL), 0);
    CHECK_INT_EQ(atomic_load(&v->_refcnt), 1);
    booka_cache_value_release(v);
}

int main(void)
{
    h2o_context_t ctx;
    h2o_evloop_t *loop;

    mallopt(M_PERTURB, 0x5a);
    h2o_config_init(&globalconf);
    h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_context_init(&ctx, loop = h2o_evloop_create(), &globalconf);
    test_many_distinct_keys(&ctx);
    booka_flight_context_dispose(&ctx);
    h2o_context_dispose(&ctx);
    h2o_evloop_destroy(loop);
    h2o_config_dispose(&globalconf);
    return unit_report("cache_flight");
}
