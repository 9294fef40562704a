/* invalidate_test.c: notifications only ever move the cache generation forward. */
#include "unit.h"
#include "cache/invalidate.h"

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
    CHECK(!booka_invalidation_is_listening());
    return unit_report("invalidate");
}
