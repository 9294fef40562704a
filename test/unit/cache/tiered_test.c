/* tiered_test.c: the lookup without Redis: MISS then HIT, coalesced followers, errors never stored, stale-while-revalidate,
 * stale-if-error, a fill whose value cannot be allocated, the fill's time reaching only the request it ran for, and the
 * Redis representation. */
#include "unit.h"
#include "cache/tiered.h"

/* An ASan build aborts on a malloc it cannot satisfy unless told to return NULL as glibc does; the out-of-memory test
 * needs the NULL. Unused in a build without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static h2o_globalconf_t globalconf;
static h2o_context_t ctx;

struct fake_fill {
    int calls;
    int status;           /* what the next fill answers */
    int deferred;         /* answer on the next loop turn instead of at once */
    int defer_first_only; /* only the first fill is deferred; later ones answer at once */
    int unallocatable;    /* the answer's body is too large for any malloc to hold (out of memory, on demand) */
    booka_cache_fill_t *pending;
    h2o_timeout_t later;
    h2o_timeout_entry_t entry;
    char last_request_id[BOOKA_REQUEST_ID_MAX + 1]; /* the trace's request id the last fill saw */
};

#define FILL_DB_US 1234                 /* what each fill reports as its database time */
#define UNALLOCATABLE ((size_t)1 << 48) /* 256 TiB: beyond the address space, so malloc returns NULL before any copy */

static void answer(struct fake_fill *f, booka_cache_fill_t *fill)
{
    char body[32];
    int n = snprintf(body, sizeof(body), "{\"n\": %d}", f->calls);
    booka_cache_fill_done(fill, f->status, h2o_iovec_init(body, f->unallocatable ? UNALLOCATABLE : (size_t)n),
                          h2o_iovec_init(H2O_STRLIT("W/\"t\"")), h2o_iovec_init(H2O_STRLIT("application/json")));
}

static void on_later(h2o_timeout_entry_t *entry)
{
    struct fake_fill *f = H2O_STRUCT_FROM_MEMBER(struct fake_fill, entry, entry);
    booka_cache_fill_t *fill = f->pending;
    f->pending = NULL;
    answer(f, fill);
}

static void do_fill(h2o_context_t *c, booka_cache_fill_t *fill, void *arg)
{
    struct fake_fill *f = arg;
    booka_trace_t *trace = booka_cache_fill_trace(fill);
    ++f->calls;
    trace->db_us += FILL_DB_US;
    snprintf(f->last_request_id, sizeof(f->last_request_id), "%s", trace->request_id);
    if (f->deferred && (!f->defer_first_only || f->calls == 1)) {
        f->pending = fill;
        h2o_timeout_link(c->loop, &f->later, &f->entry);
    } else {
        answer(f, fill);
    }
}

struct result {
    int called;
    booka_cache_outcome_t outcome;
    int status;
    char body[64];
    uint64_t db_us; /* the trace's database time */
};

static void on_done(void *data, booka_cache_outcome_t outcome, booka_cache_value_t *v, const booka_trace_t *trace)
{
    struct result *r = data;
    ++r->called;
    r->db_us = trace->db_us;
    r->outcome = outcome;
    r->status = v->status;
    snprintf(r->body, sizeof(r->body), "%.*s", (int)v->body.len, v->body.base);
    booka_cache_value_release(v);
}

static void run_until(int *flag)
{
    for (int i = 0; i != 100 && !*flag; ++i)
        h2o_evloop_run(ctx.loop, 10);
}

static booka_cache_lookup_t *look(booka_cache_store_t *s, const booka_cache_policy_t *p, const char *key, struct fake_fill *f,
                                  struct result *r)
{
    char id[64];
    snprintf(id, sizeof(id), "request-for-%s", key); /* the lookup copies it */
    return booka_cache_lookup(&ctx, s, p, h2o_iovec_init(key, strlen(key)), do_fill, f, NULL, on_done, r,
                              h2o_iovec_init(id, strlen(id)));
}

static void test_miss_then_hit_and_errors(void)
{
    booka_cache_store_t *s = booka_cache_store_create(1 << 20);
    booka_cache_policy_t p = {.fresh_ms = 60000, .stale_ms = 60000, .wait_ms = 1000, .lock_ms = 1000};
    struct fake_fill f = {.status = 200};
    struct result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};

    CHECK(look(s, &p, "a", &f, &r1) == NULL); /* the fill answered at once */
    CHECK(r1.called == 1 && r1.outcome == BOOKA_CACHE_MISS && r1.status == 200);
    CHECK_STR_EQ(r1.body, "{\"n\": 1}");
    CHECK_INT_EQ(r1.db_us, FILL_DB_US); /* the fill ran for this request: its time is the request's */
    CHECK_STR_EQ(f.last_request_id, "request-for-a");
    CHECK(look(s, &p, "a", &f, &r2) == NULL);
    CHECK(r2.called == 1 && r2.outcome == BOOKA_CACHE_HIT);
    CHECK_INT_EQ(r2.db_us, 0);
    CHECK_STR_EQ(r2.body, "{\"n\": 1}");
    CHECK_INT_EQ(f.calls, 1);
    /* an error response reaches the request but is not stored */
    f.status = 503;
    look(s, &p, "b", &f, &r3);
    CHECK(r3.called == 1 && r3.outcome == BOOKA_CACHE_MISS && r3.status == 503);
    f.status = 200;
    look(s, &p, "b", &f, &r4);
    CHECK(r4.called == 1 && r4.outcome == BOOKA_CACHE_MISS && r4.status == 200);
    CHECK_INT_EQ(f.calls, 3);
    booka_cache_store_destroy(s);
}

static void test_followers_share_one_fill(void)
{
    booka_cache_store_t *s = booka_cache_store_create(1 << 20);
    booka_cache_policy_t p = {.fresh_ms = 60000, .stale_ms = 60000, .wait_ms = 1000, .lock_ms = 1000};
    struct fake_fill f = {.status = 200, .deferred = 1};
    struct result r[5] = {{0}};
    booka_cache_lookup_t *abandoned;

    h2o_timeout_init(ctx.loop, &f.later, 5);
    f.entry.cb = on_later;
    for (int i = 0; i != 4; ++i)
        CHECK(look(s, &p, "k", &f, &r[i]) != NULL);
    abandoned = look(s, &p, "k", &f, &r[4]);
    booka_cache_abandon(abandoned);
    run_until(&r[3].called);
    run_until(&r[1].called);
    CHECK_INT_EQ(f.calls, 1);
    CHECK(r[0].called == 1 && r[0].outcome == BOOKA_CACHE_MISS);
    CHECK_INT_EQ(r[0].db_us, FILL_DB_US);
    for (int i = 1; i != 4; ++i) {
        CHECK(r[i].called == 1 && r[i].outcome == BOOKA_CACHE_HIT);
        CHECK_STR_EQ(r[i].body, r[0].body);
        CHECK_INT_EQ(r[i].db_us, 0); /* followers waited for the leader's query, they ran none */
    }
    CHECK(r[4].called == 0);
    h2o_timeout_dispose(ctx.loop, &f.later);
    booka_cache_store_destroy(s);
}

/* a follower that gives up waiting fills itself from inside its flight callback, and that fill may answer at once: the
 * lookup must be freed once (ASan caught a double free here) */
static void test_follower_timeout_then_synchronous_fill(void)
{
    booka_cache_store_t *s = booka_cache_store_create(1 << 20);
    booka_cache_policy_t p = {.fresh_ms = 60000, .stale_ms = 60000, .wait_ms = 20, .lock_ms = 1000};
    struct fake_fill f = {.status = 200, .deferred = 1, .defer_first_only = 1};
    struct result leader = {0}, follower = {0};

    h2o_timeout_init(ctx.loop, &f.later, 200); /* the leader's fill takes 200 ms, longer than the follower waits */
    f.entry.cb = on_later;
    CHECK(look(s, &p, "slow", &f, &leader) != NULL);
    CHECK(look(s, &p, "slow", &f, &follower) != NULL);
    run_until(&follower.called);
    CHECK(follower.called == 1 && follower.outcome == BOOKA_CACHE_MISS && follower.status == 200);
    CHECK_INT_EQ(f.calls, 2);
    run_until(&leader.called);
    CHECK(leader.called == 1 && leader.outcome == BOOKA_CACHE_MISS);
    h2o_timeout_dispose(ctx.loop, &f.later);
    booka_cache_store_destroy(s);
}

static void test_stale_while_revalidate_and_if_error(void)
{
    booka_cache_store_t *s = booka_cache_store_create(1 << 20);
    booka_cache_policy_t p = {.fresh_ms = 0, .stale_ms = 60000, .wait_ms = 1000, .lock_ms = 1000}; /* stale at once */
    struct fake_fill f = {.status = 200};
    struct result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};

    look(s, &p, "s", &f, &r1);
    CHECK(r1.outcome == BOOKA_CACHE_MISS);
    /* stale: served at once, and one refresh runs */
    look(s, &p, "s", &f, &r2);
    CHECK(r2.called == 1 && r2.outcome == BOOKA_CACHE_STALE);
    CHECK_STR_EQ(r2.body, "{\"n\": 1}");
    CHECK_INT_EQ(f.calls, 2);
    CHECK_INT_EQ(r2.db_us, 0); /* the refresh is nobody's request: its time is not the stale answer's */
    CHECK_STR_EQ(f.last_request_id, "");
    look(s, &p, "s", &f, &r3);
    CHECK_STR_EQ(r3.body, "{\"n\": 2}"); /* the refreshed copy */
    /* the database fails: the stale copy is served instead of the error */
    f.status = 503;
    p.fresh_ms = 0;
    booka_cache_store_remove(s, "x", 1);
    look(s, &p, "s", &f, &r4);
    CHECK(r4.called == 1 && r4.outcome == BOOKA_CACHE_STALE && r4.status == 200);
    booka_cache_store_destroy(s);
}

/* review item 3: when the fill's value could not be allocated, the lookup was freed while its request still held it: the
 * request never got an answer, and its booka_cache_abandon then read freed memory. Now it is answered 503, at once or
 * later, and nothing is stored. */
static void test_fill_out_of_memory(void)
{
    booka_cache_store_t *s = booka_cache_store_create(1 << 20);
    booka_cache_policy_t p = {.fresh_ms = 60000, .stale_ms = 60000, .wait_ms = 1000, .lock_ms = 1000};
    struct fake_fill f = {.status = 200, .unallocatable = 1, .deferred = 1};
    struct result later = {0}, at_once = {0}, after = {0};
    booka_cache_lookup_t *held;

    h2o_timeout_init(ctx.loop, &f.later, 5);
    f.entry.cb = on_later;
    held = look(s, &p, "oom", &f, &later);
    CHECK(held != NULL);
    run_until(&later.called);
    CHECK(later.called == 1 && later.outcome == BOOKA_CACHE_MISS && later.status == 503);
    CHECK(strstr(later.body, "\"detail\"") != NULL);
    if (!later.called)
        booka_cache_abandon(held); /* what the request does when it goes away unanswered: freed memory before the fix */
    f.deferred = 0;
    CHECK(look(s, &p, "oom", &f, &at_once) == NULL); /* the fill answers inside the lookup */
    CHECK(at_once.called == 1 && at_once.status == 503);
    f.unallocatable = 0;
    look(s, &p, "oom", &f, &after);
    CHECK(after.called == 1 && after.outcome == BOOKA_CACHE_MISS && after.status == 200); /* nothing was stored */
    h2o_timeout_dispose(ctx.loop, &f.later);
    booka_cache_store_destroy(s);
}

static void test_serialization(void)
{
    booka_cache_value_t *empty =
        booka_cache_value_new(h2o_iovec_init(NULL, 0), h2o_iovec_init(NULL, 0), h2o_iovec_init(NULL, 0), 304, 1, 2, 3);
    CHECK(empty != NULL && empty->body.len == 0 && empty->etag.len == 0); /* NULL bases are fine (UBSan watches memcpy) */
    booka_cache_value_release(empty);
    booka_cache_value_t *v = booka_cache_value_new(h2o_iovec_init(H2O_STRLIT("{\"data\": []}")),
                                                   h2o_iovec_init(H2O_STRLIT("W/\"abc\"")),
                                                   h2o_iovec_init(H2O_STRLIT("application/json")), 200, 1, 2, 3),
                        *back;
    booka_buf_t b = {NULL};

    booka_cache_serialize(v, &b);
    back = booka_cache_deserialize(b.base, b.len);
    CHECK(back != NULL);
    if (back != NULL) {
        CHECK(h2o_memis(back->body.base, back->body.len, v->body.base, v->body.len));
        CHECK(h2o_memis(back->etag.base, back->etag.len, v->etag.base, v->etag.len));
        CHECK(h2o_memis(back->content_type.base, back->content_type.len, v->content_type.base, v->content_type.len));
        CHECK(back->status == 200 && back->created_at == 1 && back->fresh_until == 2 && back->stale_until == 3);
        booka_cache_value_release(back);
    }
    for (size_t cut = 0; cut < 40; ++cut)
        CHECK(booka_cache_deserialize(b.base, cut) == NULL);
    CHECK(booka_cache_deserialize("XXXX", 4) == NULL);
    booka_buf_free(&b);
    booka_cache_value_release(v);
}

/* round_trips: whether a value with these fields comes back from its Redis bytes (else it is a miss) */
static int round_trips(const char *etag, const char *content_type, int status, uint64_t fresh_until, uint64_t stale_until)
{
    booka_cache_value_t *v = booka_cache_value_new(h2o_iovec_init(H2O_STRLIT("{}")), h2o_iovec_init(etag, strlen(etag)),
                                                   h2o_iovec_init(content_type, strlen(content_type)), status, 1, fresh_until,
                                                   stale_until),
                        *back;
    booka_buf_t b = {NULL};

    booka_cache_serialize(v, &b);
    back = booka_cache_deserialize(b.base, b.len);
    booka_buf_free(&b);
    booka_cache_value_release(v);
    booka_cache_value_release(back);
    return back != NULL;
}

/* what Redis hands back goes out as response headers: anything unservable is a miss, never a header */
static void test_untrusted_values_from_redis(void)
{
    CHECK(round_trips("W/\"0123abcd\"", "application/json", 200, 2, 3));
    CHECK(round_trips("\"0123abcd\"", "image/webp", 200, 2, 2));
    CHECK(round_trips("W/\"\"", "application/json; charset=utf-8", 200, 2, 3));
    CHECK(!round_trips("W/\"a\"\r\nSet-Cookie: session=stolen", "application/json", 200, 2, 3));
    CHECK(!round_trips("W/\"a\r\nSet-Cookie: x\"", "application/json", 200, 2, 3));
    CHECK(!round_trips("W/\"a\"b\"", "application/json", 200, 2, 3));
    CHECK(!round_trips("a", "application/json", 200, 2, 3));
    CHECK(!round_trips("\"", "application/json", 200, 2, 3));
    CHECK(!round_trips("", "application/json", 200, 2, 3));
    CHECK(!round_trips("W/\"a\"", "text/html\r\n\r\n<script>", 200, 2, 3));
    CHECK(!round_trips("W/\"a\"", "text/html\n", 200, 2, 3));
    CHECK(!round_trips("W/\"a\"", " application/json", 200, 2, 3));
    CHECK(!round_trips("W/\"a\"", "", 200, 2, 3));
    CHECK(!round_trips("W/\"a\"", "application/json", 302, 2, 3));
    CHECK(!round_trips("W/\"a\"", "application/json", 200, 3, 2));
}

/* test_get_fresh: the in-process answer alone: a fresh value (a hit), never a stale one (left for the lookup to serve
 * and refresh), nothing for a missing key. */
static void test_get_fresh(void)
{
    booka_cache_store_t *s = booka_cache_store_create(1 << 20);
    uint64_t now = booka_cache_now(), hits = atomic_load(&booka_cache_stats.hits);
    booka_cache_value_t *fresh =
        booka_cache_value_new(h2o_iovec_init(H2O_STRLIT("fresh")), h2o_iovec_init(H2O_STRLIT("\"f\"")),
                              h2o_iovec_init(H2O_STRLIT("text/plain")), 200, now, now + 60000, now + 60000);
    booka_cache_value_t *stale =
        booka_cache_value_new(h2o_iovec_init(H2O_STRLIT("stale")), h2o_iovec_init(H2O_STRLIT("\"s\"")),
                              h2o_iovec_init(H2O_STRLIT("text/plain")), 200, now - 2, now - 1, now + 60000);
    booka_cache_store_put(s, H2O_STRLIT("f"), fresh);
    booka_cache_store_put(s, H2O_STRLIT("s"), stale);
    booka_cache_value_t *v = booka_cache_get_fresh(s, h2o_iovec_init(H2O_STRLIT("f")));
    CHECK(v == fresh);
    CHECK_INT_EQ(atomic_load(&booka_cache_stats.hits) - hits, 1);
    booka_cache_value_release(v);
    CHECK(booka_cache_get_fresh(s, h2o_iovec_init(H2O_STRLIT("s"))) == NULL);
    CHECK(booka_cache_get_fresh(s, h2o_iovec_init(H2O_STRLIT("none"))) == NULL);
    CHECK_INT_EQ(atomic_load(&booka_cache_stats.hits) - hits, 1);
    v = booka_cache_store_get(s, H2O_STRLIT("s")); /* still there for the lookup */
    CHECK(v == stale);
    booka_cache_value_release(v);
    booka_cache_value_release(fresh);
    booka_cache_value_release(stale);
    booka_cache_store_destroy(s);
}

int main(void)
{
    h2o_config_init(&globalconf);
    h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_context_init(&ctx, h2o_evloop_create(), &globalconf);
    test_miss_then_hit_and_errors();
    test_followers_share_one_fill();
    test_follower_timeout_then_synchronous_fill();
    test_stale_while_revalidate_and_if_error();
    test_fill_out_of_memory();
    test_serialization();
    test_untrusted_values_from_redis();
    test_get_fresh();
    return unit_report("cache_tiered");
}
