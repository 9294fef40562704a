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
                                      "5x list",
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
 * depends only on the sequence and the snapshot: unchanged while nothing was written and no transaction ended, so the
 * keys survive a quiet reconnect. */
static void test_setup(void)
{
    uint64_t first;

    booka_invalidation_apply_setup("1001", "900:900:");
    first = generation();
    CHECK((first & UPPER) != 0);
    booka_invalidation_apply_payload("1001"); /* the write that was in flight during the read */
    CHECK_INT_EQ(generation(), 1001);
    booka_invalidation_apply_setup("1001", "900:900:");
    CHECK(generation() == first);
    booka_invalidation_apply_setup("1002", "900:900:");
    CHECK(generation() != first && (generation() & UPPER) != 0);
    first = generation();
    booka_invalidation_apply_setup(NULL, NULL); /* no sequence (older schema): a step from where it is */
    CHECK(generation() != first && (generation() & UPPER) != 0);
}

/* test_setup_during_write: nextval is not transactional. A set-up while a write that drew 1101 is still open reads 1101;
 * entries filled under that generation hold the data before the write. After the commit, a set-up with no write in
 * between reads 1101 again, and must not land on the same generation: the snapshot says the writer ended (it left xip,
 * or xmax passed it). A transaction that stays open across both (a long report elsewhere) changes nothing. */
static void test_setup_during_write(void)
{
    uint64_t during, after, writer_late;

    booka_invalidation_apply_setup("1101", "950:951:950"); /* the writer, 950, in progress */
    during = generation();
    booka_invalidation_apply_payload("1101"); /* its commit */
    booka_invalidation_apply_setup("1101", "951:951:");
    after = generation();
    CHECK(after != during);
    CHECK((after & UPPER) != 0);
    /* a writer that took its id after the snapshot was taken is past xmax; its end moves xmax */
    booka_invalidation_apply_setup("1102", "951:951:");
    writer_late = generation();
    booka_invalidation_apply_setup("1102", "952:952:");
    CHECK(generation() != writer_late);
    /* quiet: the same snapshot, the same generation (instances agree, keys survive) */
    booka_invalidation_apply_setup("1102", "900:952:900");
    after = generation();
    booka_invalidation_apply_setup("1102", "900:952:900");
    CHECK(generation() == after);
}

/* test_setup_no_writer: a set-up that saw no write of ours in flight (snapshot "") keys by the sequence alone, so
 * instances that set up at different moments agree even when transactions ended elsewhere in between; a set-up that saw
 * one (a snapshot) never lands on that value, nor does a set-up after a later write, nor the value older versions derived
 * from the sequence alone. */
static void test_setup_no_writer(void)
{
    uint64_t quiet, seen_writer;

    booka_invalidation_apply_setup("1201", "");
    quiet = generation();
    CHECK((quiet & UPPER) != 0);
    booka_invalidation_apply_payload("1201");
    booka_invalidation_apply_setup("1201", ""); /* another instance, or a reconnect: the cluster moved on meanwhile */
    CHECK(generation() == quiet);
    booka_invalidation_apply_setup("1201", "960:961:960"); /* a writer in flight: it may still commit 1201's successor */
    seen_writer = generation();
    CHECK(seen_writer != quiet && (seen_writer & UPPER) != 0);
    booka_invalidation_apply_setup("1202", "");
    CHECK(generation() != quiet && generation() != seen_writer && (generation() & UPPER) != 0);
    /* the sequence hashed alone (no "") was the value of versions that keyed open writes by it: not this one */
    booka_invalidation_apply_setup("1201", NULL);
    CHECK(generation() != quiet);
}

static char seen_tags[64];
static uint64_t seen_generation, seen_serial, seen_sequence;
static int seen, seen_unknown, seen_first, seen_has_sequence;

static void observe(const booka_invalidation_change_t *change)
{
    if (change->tags == NULL)
        ++seen_unknown;
    else
        snprintf(seen_tags, sizeof(seen_tags), "%s", change->tags);
    seen_generation = change->generation;
    seen_serial = change->serial;
    seen_sequence = change->sequence;
    seen_has_sequence = change->has_sequence;
    seen_first = change->first;
    ++seen;
}

/* test_tags: migration 010's "<number> <tag>...": the number is the generation, the tags go to the observer; a bare
 * number, a payload that is not of that form and a reconnect after the first tell it that what changed is unknown.
 * Every change is counted (booka_cache_changes) and carries its serial and the sequence value it covers. */
static void test_tags(void)
{
    uint64_t serial = atomic_load(&booka_cache_changes);

    booka_invalidation_add_observer(observe);
    booka_invalidation_apply_payload("1200 list-all list-cat-dj avatar-7");
    CHECK_INT_EQ(generation(), 1200);
    CHECK_INT_EQ(seen, 1);
    CHECK_STR_EQ(seen_tags, "list-all list-cat-dj avatar-7");
    CHECK_INT_EQ(seen_generation, 1200);
    CHECK(seen_serial == serial + 1 && atomic_load(&booka_cache_changes) == serial + 1);
    CHECK(seen_has_sequence && seen_sequence == 1200 && !seen_first);
    booka_invalidation_apply_payload("1100 list-all"); /* committed late: the latest wins, the observer hears it */
    CHECK_INT_EQ(generation(), 1100);
    CHECK_STR_EQ(seen_tags, "list-all");
    booka_invalidation_apply_payload("1101 "); /* a write no response depends on */
    CHECK_INT_EQ(generation(), 1101);
    CHECK_STR_EQ(seen_tags, "");
    CHECK_INT_EQ(seen_unknown, 0);
    booka_invalidation_apply_payload("1300x list"); /* junk in the number: unknown, upper half */
    CHECK((generation() & UPPER) != 0);
    CHECK_INT_EQ(seen_unknown, 1);
    CHECK(!seen_has_sequence);
    booka_invalidation_apply_payload("18446744073709551615 list-all"); /* cannot pin it either with tags */
    CHECK((generation() & UPPER) != 0);
    CHECK_INT_EQ(seen_unknown, 2);
    booka_invalidation_apply_payload("1301"); /* a bare number: an older trigger, what it touched is unknown */
    CHECK_INT_EQ(generation(), 1301);
    CHECK_INT_EQ(seen_unknown, 3);
    CHECK(seen_has_sequence && seen_sequence == 1301);
    booka_invalidation_apply_setup("1301", "990:990:"); /* test_setup ran the first set-up: this is a reconnect */
    CHECK_INT_EQ(seen_unknown, 4);
    CHECK(seen_generation == generation());
    CHECK(seen_has_sequence && seen_sequence == 1301 && !seen_first);
    CHECK(seen_serial == serial + 7);
    booka_invalidation_remove_observer(observe);
    booka_invalidation_apply_payload("1400 list");
    CHECK_INT_EQ(seen, 7);
    CHECK(atomic_load(&booka_cache_changes) == serial + 8);
}

/* test_first_setup: the process's first set-up reaches the observer too, marked first (the edge purger asks Redis what
 * was written while no instance listened), with the sequence value it read. Runs before any other set-up. */
static void test_first_setup(void)
{
    booka_invalidation_add_observer(observe);
    booka_invalidation_apply_setup("41", "10:10:");
    CHECK_INT_EQ(seen, 1);
    CHECK_INT_EQ(seen_unknown, 1);
    CHECK(seen_first && seen_has_sequence && seen_sequence == 41);
    booka_invalidation_apply_setup("41", "10:10:");
    CHECK(!seen_first);
    booka_invalidation_remove_observer(observe);
    seen = seen_unknown = 0;
    atomic_store(&booka_cache_generation, 0); /* test_numbers starts from the start */
}

static char order[8];
static size_t order_len;

static void first_observer(const booka_invalidation_change_t *change)
{
    (void)change;
    order[order_len++] = 'a';
}

static void second_observer(const booka_invalidation_change_t *change)
{
    (void)change;
    order[order_len++] = 'b';
}

/* test_observers: the edge purger and the avatars' known versions both hear every change, in the order added; adding
 * one twice tells it once; a removed one hears nothing more. */
static void test_observers(void)
{
    booka_invalidation_add_observer(first_observer);
    booka_invalidation_add_observer(second_observer);
    booka_invalidation_add_observer(first_observer);
    booka_invalidation_apply_payload("1500 avatar-3");
    CHECK(order_len == 2 && memcmp(order, "ab", 2) == 0);
    booka_invalidation_remove_observer(first_observer);
    booka_invalidation_apply_payload("1501");
    CHECK(order_len == 3 && order[2] == 'b');
    booka_invalidation_remove_observer(second_observer);
    booka_invalidation_apply_payload("1502");
    CHECK(order_len == 3);
}

int main(void)
{
    test_first_setup();
    test_numbers();
    test_not_numbers();
    test_setup();
    test_setup_during_write();
    test_setup_no_writer();
    test_tags();
    test_observers();
    CHECK(!booka_invalidation_is_listening());
    return unit_report("invalidate");
}
