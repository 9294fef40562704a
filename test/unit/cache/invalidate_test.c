/* invalidate_test.c: the generation rule (plugin/cache/invalidate.c): a sequence number becomes the generation; anything
 * else, and each (re)connect, moves it to a value in the upper half, derived from what was seen, so instances agree, and
 * nothing a notification carries can pin it. */
#include "unit.h"
#include "cache/invalidate.h"

#define UPPER (UINT64_C(1) << 63)

static uint64_t generation(void)
{
    return atomic_load(&booka_cache_generation);
}

/* test_numbers: each write's number becomes the generation, the latest committed one winning (a number drawn early and
 * committed late still changes it: the keys of the later write must not serve the earlier one's change as unchanged). */
static void test_numbers(void)
{
    CHECK_INT_EQ(generation(), 0);
    booka_invalidation_apply_payload("41");
    CHECK_INT_EQ(generation(), 41);
    booka_invalidation_apply_payload("7");
    CHECK_INT_EQ(generation(), 7);
    booka_invalidation_apply_payload("9223372036854775807"); /* 2^63-1: a bigint sequence's last value */
    CHECK(generation() == UINT64_C(9223372036854775807));
    booka_invalidation_apply_payload("1000"); /* not pinned: the next write moves it */
    CHECK_INT_EQ(generation(), 1000);
}

/* test_not_numbers: 2^64-1, overflow, signs, spaces, table names, the empty string: never taken as a number; each moves
 * the generation into the upper half (where no write's number is, so the next write moves it again), and the next real
 * number replaces it. */
static void test_not_numbers(void)
{
    static const char *const bad[] = {"18446744073709551615",
                                      "9223372036854775808",
                                      "99999999999999999999999",
                                      "-5",
                                      "+5",
                                      " 5",
                                      "5 ",
                                      "0x10",
                                      "service_provider_profiles",
                                      ""};
    uint64_t seen[sizeof(bad) / sizeof(bad[0])];

    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        uint64_t before = generation();
        booka_invalidation_apply_payload(bad[i]);
        seen[i] = generation();
        CHECK((seen[i] & UPPER) != 0);
        CHECK(seen[i] != before);
        for (size_t j = 0; j != i; ++j)
            CHECK(seen[i] != seen[j]);
    }
    booka_invalidation_apply_payload("1001");
    CHECK_INT_EQ(generation(), 1001);
    /* the same payload at the same generation gives the same value on every instance, so they keep sharing keys */
    booka_invalidation_apply_payload("18446744073709551615");
    seen[0] = generation();
    atomic_store(&booka_cache_generation, 1001);
    booka_invalidation_apply_payload("18446744073709551615");
    CHECK(generation() == seen[0]);
}

/* test_setup: a (re)connect moves the generation off any number a write in flight may still notify, to a value that
 * depends only on the sequence: unchanged while nothing was written, so the keys survive a reconnect. */
static void test_setup(void)
{
    uint64_t first;

    booka_invalidation_apply_setup("1001");
    first = generation();
    CHECK((first & UPPER) != 0);
    booka_invalidation_apply_payload("1001"); /* the write that was in flight during the read */
    CHECK_INT_EQ(generation(), 1001);
    booka_invalidation_apply_setup("1001");
    CHECK(generation() == first);
    booka_invalidation_apply_setup("1002");
    CHECK(generation() != first && (generation() & UPPER) != 0);
    first = generation();
    booka_invalidation_apply_setup(NULL); /* no sequence (older schema): a step from where it is */
    CHECK(generation() != first && (generation() & UPPER) != 0);
}

int main(void)
{
    test_numbers();
    test_not_numbers();
    test_setup();
    CHECK(!booka_invalidation_is_listening());
    return unit_report("invalidate");
}
