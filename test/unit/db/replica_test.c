/* replica_test.c: plugin/db/replica.c: WAL positions (parsing, the insert position at a page start), the lag history and
 * which probe gives a generation its fence.
 * The monitor itself runs against a real hot standby in spec/replica_spec.rb. */
#include "db/db.h"
#include "db/internal.h"
#include "unit.h"

static void test_lsn_parse(void)
{
    uint64_t lsn = 0;

    CHECK_INT_EQ(db_lsn_parse("16/B374D848", &lsn), 0);
    CHECK(lsn == 0x16B374D848ull);
    CHECK_INT_EQ(db_lsn_parse("0/0", &lsn), 0);
    CHECK(lsn == 0);
    CHECK_INT_EQ(db_lsn_parse("FFFFFFFF/FFFFFFFF", &lsn), 0);
    CHECK(lsn == UINT64_MAX);
    CHECK_INT_EQ(db_lsn_parse(NULL, &lsn), -1);
    CHECK_INT_EQ(db_lsn_parse("", &lsn), -1);
    CHECK_INT_EQ(db_lsn_parse("16", &lsn), -1);
    CHECK_INT_EQ(db_lsn_parse("16/B374D848x", &lsn), -1);
    CHECK_INT_EQ(db_lsn_parse("zz/1", &lsn), -1);
}

static void test_record_end(void)
{
    const uint64_t block = 8192, segment = 16 << 20;

    /* mid-page: as it is */
    CHECK(db_lsn_record_end(0x3000158, block, segment) == 0x3000158);
    /* right after a page header: the end of the previous page, where replay stops */
    CHECK(db_lsn_record_end(0x3002018, block, segment) == 0x3002000);
    /* right after a segment's first (long) page header */
    CHECK(db_lsn_record_end(0x4000028, block, segment) == 0x4000000);
    /* 24 bytes into a segment is not after a header there (the long header is 40) */
    CHECK(db_lsn_record_end(0x4000018, block, segment) == 0x4000018);
    /* other sizes are honoured */
    CHECK(db_lsn_record_end(0x4018, 16384, segment) == 0x4000);
    CHECK(db_lsn_record_end(0x2018, 16384, segment) == 0x2018);
    /* sizes unknown: as it is; segment size unknown: every page has the short header */
    CHECK(db_lsn_record_end(0x3002018, 0, 0) == 0x3002018);
    CHECK(db_lsn_record_end(0x3002018, block, 0) == 0x3002000);
}

static void test_lag_history(void)
{
    db_lag_history_t h;

    db_lag_history_init(&h, 4);
    CHECK_INT_EQ(db_lag_history_lag(&h, 1000, 0), 0); /* nothing known: no lag */
    db_lag_history_add(&h, 100, 10);
    db_lag_history_add(&h, 200, 20);
    db_lag_history_add(&h, 250, 20); /* no new WAL: ignored, 20 was first seen at 200 */
    db_lag_history_add(&h, 300, 30);
    CHECK_INT_EQ(h.count, 3);
    CHECK_INT_EQ(db_lag_history_lag(&h, 1000, 30), 0);   /* caught up */
    CHECK_INT_EQ(db_lag_history_lag(&h, 1000, 40), 0);   /* past what the monitor saw */
    CHECK_INT_EQ(db_lag_history_lag(&h, 1000, 20), 700); /* missing what the primary had since 300 */
    CHECK_INT_EQ(db_lag_history_lag(&h, 1000, 15), 800); /* missing what it had since 200 */
    CHECK_INT_EQ(db_lag_history_lag(&h, 1000, 5), 900);
    CHECK_INT_EQ(db_lag_history_lag(&h, 50, 5), 0); /* a sample newer than `now`: no negative lag */

    /* full: the oldest go, and the lag becomes a lower bound (since the oldest kept) */
    db_lag_history_add(&h, 400, 40);
    db_lag_history_add(&h, 500, 50);
    CHECK_INT_EQ(h.count, 4);
    CHECK_INT_EQ(db_lag_history_lag(&h, 1000, 5), 800);
    CHECK_INT_EQ(db_lag_history_lag(&h, 1000, 45), 500);
    db_lag_history_dispose(&h);

    db_lag_history_init(&h, 0); /* at least one sample */
    db_lag_history_add(&h, 100, 10);
    db_lag_history_add(&h, 200, 20);
    CHECK_INT_EQ(h.count, 1);
    CHECK_INT_EQ(db_lag_history_lag(&h, 1000, 10), 800);
    db_lag_history_dispose(&h);
}

/* test_fence_candidate: which primary probe may give a generation its fence. Only a probe sent after the generation was
 * seen read positions past the write behind it: at start-up the first generation is published while a probe sent before
 * it may still be on its way (it was numbered as the first, like the generation: the old rule took its answer). The
 * flush position counts once read 3 x wal_writer_delay after the generation was seen, when lower. */
static void test_fence_candidate(void)
{
    /* seen at 1000 ms, when 1 probe had been sent */
    db_followed_t f = {.generation = 77, .ordinal = 0, .seen_at = 1000, .fence = DB_FENCE_UNKNOWN, .after_probe = 1};
    db_followed_t none = {.generation = 0};

    CHECK(db_fence_candidate(&f, 1, 990, 600, 0x5000, 0x4000) == DB_FENCE_UNKNOWN); /* sent before it was seen */
    CHECK(db_fence_candidate(&f, 2, 1010, 600, 0x5000, 0x4000) == 0x5000);          /* after: the insert position */
    CHECK(db_fence_candidate(&f, 3, 1600, 600, 0x5000, 0x4000) == 0x4000);          /* the async window passed: flush */
    CHECK(db_fence_candidate(&f, 3, 1600, 0, 0x5000, 0x4000) == 0x5000);            /* wal_writer_delay not known */
    CHECK(db_fence_candidate(&f, 3, 1600, 600, 0x5000, 0x6000) == 0x5000);          /* the lower of the two */
    CHECK(db_fence_candidate(&none, 5, 5000, 600, 0x5000, 0x4000) == DB_FENCE_UNKNOWN);
    f.after_probe = 0; /* seen before any probe was sent: the first one counts */
    CHECK(db_fence_candidate(&f, 1, 1010, 600, 0x5000, 0x4000) == 0x5000);
}

int main(void)
{
    test_lsn_parse();
    test_record_end();
    test_lag_history();
    test_fence_candidate();
    return unit_report("db_replica");
}
