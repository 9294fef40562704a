/* invalidate_test.c: notifications only ever move the cache generation forward. */
#include "unit.h"
#include "cache/invalidate.h"

static char seen_payload[64];
static uint64_t seen_before, seen_after;
static int seen;

static void observe(const char *payload, uint64_t before, uint64_t after)
{
    snprintf(seen_payload, sizeof(seen_payload), "%s", payload);
    seen_before = before;
    seen_after = after;
    ++seen;
}

int main(void)
{
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 0);
    booka_invalidation_apply_payload("41");
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 41);
    booka_invalidation_apply_payload("7"); /* late or reordered: never backwards */
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 41);
    booka_invalidation_apply_payload("service_provider_profiles"); /* an older trigger's table name: one step */
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 42);
    booka_invalidation_apply_payload("");
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 43);
    booka_invalidation_apply_payload("99999999999999999999999"); /* overflow counts as not a number */
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 44);
    booka_invalidation_apply_payload("1000");
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 1000);
    /* migration 010: the number, then what the change touched */
    booka_invalidation_set_observer(observe);
    booka_invalidation_apply_payload("1200 list-all list-cat-dj avatar-7");
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 1200);
    CHECK_INT_EQ(seen, 1);
    CHECK_STR_EQ(seen_payload, "1200 list-all list-cat-dj avatar-7");
    CHECK_INT_EQ(seen_before, 1000);
    CHECK_INT_EQ(seen_after, 1200);
    booka_invalidation_apply_payload("1100 list-all"); /* committed late: the generation stays, the observer still hears it */
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 1200);
    CHECK_INT_EQ(seen, 2);
    CHECK_INT_EQ(seen_after, 1200);
    booka_invalidation_apply_payload("-5"); /* a sign is not a number: one step, never a wrap to 2^64-5 */
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 1201);
    booka_invalidation_apply_payload("1300x list"); /* junk after the digits: one step */
    CHECK_INT_EQ(atomic_load(&booka_cache_generation), 1202);
    booka_invalidation_set_observer(NULL);
    booka_invalidation_apply_payload("1300");
    CHECK_INT_EQ(seen, 4);
    CHECK(!booka_invalidation_is_listening());
    return unit_report("invalidate");
}
