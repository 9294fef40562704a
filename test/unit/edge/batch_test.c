/* batch_test.c: the purger's decisions without I/O: change payloads, tag batches, the token bucket and backoff. */
#include <stdlib.h>
#include "unit.h"
#include "edge/internal.h"

static void test_change_parse(void)
{
    edge_tag_list_t tags = {NULL};
    uint64_t id = 0;
    char long_tag[EDGE_TAG_MAX + 16];

    CHECK_INT_EQ(edge_change_parse("41 list-all list-cat-dj list-all avatar-7", &id, &tags), 4);
    CHECK_INT_EQ(id, 41);
    CHECK_INT_EQ(tags.size, 3); /* a tag named twice is one tag */
    CHECK_STR_EQ(tags.entries[0], "list-all");
    CHECK_STR_EQ(tags.entries[1], "list-cat-dj");
    CHECK_STR_EQ(tags.entries[2], "avatar-7");
    edge_tags_clear(&tags);

    CHECK_INT_EQ(edge_change_parse("42", &id, &tags), 0); /* a bare id names nothing */
    CHECK_INT_EQ(id, 42);
    CHECK_INT_EQ(tags.size, 0);
    CHECK_INT_EQ(edge_change_parse("x 1", &id, &tags), -1);
    CHECK_INT_EQ(edge_change_parse("43x list", &id, &tags), -1);
    CHECK_INT_EQ(edge_change_parse("-1 list", &id, &tags), -1);
    CHECK_INT_EQ(edge_change_parse("99999999999999999999999 list", &id, &tags), -1);
    CHECK_INT_EQ(tags.size, 0);

    /* bytes the trigger never writes (header or JSON syntax, upper case) stand for an unknown change: the families */
    CHECK_INT_EQ(edge_change_parse("44 list-cat-a\r\nX-Evil:1 list-all", &id, &tags), 2);
    CHECK_INT_EQ(tags.size, 2);
    CHECK_STR_EQ(tags.entries[0], "list");
    CHECK_STR_EQ(tags.entries[1], "avatar");
    edge_tags_clear(&tags);
    CHECK_INT_EQ(edge_change_parse("45 list-cat-\"}", &id, &tags), 1);
    CHECK_STR_EQ(tags.entries[0], "list");
    edge_tags_clear(&tags);
    memset(long_tag, 'a', sizeof(long_tag));
    memcpy(long_tag, "46 ", 3);
    long_tag[sizeof(long_tag) - 1] = '\0';
    CHECK_INT_EQ(edge_change_parse(long_tag, &id, &tags), 1);
    CHECK_STR_EQ(tags.entries[0], "list");
    edge_tags_clear(&tags);
    CHECK_INT_EQ(edge_change_parse("47  list-cat-mc_%26_host   list-all ", &id, &tags), 2); /* runs of spaces */
    CHECK_STR_EQ(tags.entries[0], "list-cat-mc_%26_host");
    CHECK_STR_EQ(tags.entries[1], "list-all");
    edge_tags_dispose(&tags);
}

static void test_take_and_merge(void)
{
    edge_tag_list_t pending = {NULL}, sending = {NULL};
    char tag[16];

    for (int i = 0; i != 7; ++i) {
        snprintf(tag, sizeof(tag), "tag-%d", i); /* 5 bytes each */
        CHECK_INT_EQ(edge_tags_add(&pending, tag, strlen(tag)), 1);
    }
    CHECK_INT_EQ(edge_tags_add(&pending, "tag-3", 5), 0);
    CHECK_INT_EQ(edge_tags_take(&pending, &sending, 3, 1000, 1), 3); /* max-tags */
    CHECK_STR_EQ(sending.entries[0], "tag-0");
    CHECK_STR_EQ(sending.entries[2], "tag-2");
    CHECK_INT_EQ(pending.size, 4);
    CHECK_STR_EQ(pending.entries[0], "tag-3");

    /* a failed batch goes back in front; what came meanwhile follows, without duplicates */
    edge_tags_add(&pending, "tag-1", 5);
    edge_tags_merge(&sending, &pending);
    CHECK_INT_EQ(pending.size, 0);
    CHECK_INT_EQ(sending.size, 7);
    CHECK_STR_EQ(sending.entries[0], "tag-0");
    CHECK_STR_EQ(sending.entries[3], "tag-3");

    /* max-bytes: 5 + 3 bytes of overhead each, 20 bytes hold two; one always goes, however large */
    CHECK_INT_EQ(edge_tags_take(&sending, &pending, 100, 20, 3), 2);
    edge_tags_clear(&pending);
    CHECK_INT_EQ(edge_tags_take(&sending, &pending, 100, 2, 3), 1);
    edge_tags_dispose(&pending);
    edge_tags_dispose(&sending);
}

static void test_collapse(void)
{
    edge_tag_list_t tags = {NULL};

    edge_tags_add(&tags, H2O_STRLIT("list-cat-dj"));
    edge_tags_add(&tags, H2O_STRLIT("list-all"));
    edge_tags_collapse(&tags);
    CHECK_INT_EQ(tags.size, 1);
    CHECK_STR_EQ(tags.entries[0], "list");
    edge_tags_add(&tags, H2O_STRLIT("avatar-9"));
    edge_tags_collapse(&tags);
    CHECK_INT_EQ(tags.size, 2);
    CHECK_STR_EQ(tags.entries[1], "avatar");
    edge_tags_clear(&tags);
    edge_tags_add(&tags, H2O_STRLIT("avatar-9"));
    edge_tags_collapse(&tags);
    CHECK_INT_EQ(tags.size, 1);
    CHECK_STR_EQ(tags.entries[0], "avatar");
    edge_tags_dispose(&tags);
}

static void test_bucket(void)
{
    edge_bucket_t b;

    /* Cloudflare's Free plan: 5 requests a minute, a bucket of 25 */
    edge_bucket_init(&b, 25, 5, 1000);
    for (int i = 0; i != 25; ++i) {
        CHECK_INT_EQ(edge_bucket_wait(&b, 1000), 0);
        edge_bucket_take(&b, 1000);
    }
    CHECK(edge_bucket_wait(&b, 1000) >= 12000 && edge_bucket_wait(&b, 1000) <= 12001); /* one token every 12 s */
    CHECK(edge_bucket_wait(&b, 7000) > 5000);
    CHECK_INT_EQ(edge_bucket_wait(&b, 13001), 0);
    edge_bucket_take(&b, 13001);
    CHECK(edge_bucket_wait(&b, 13001) > 11000);
    CHECK_INT_EQ(edge_bucket_wait(&b, 10000000), 0); /* a long idle time refills no more than the bucket */
    for (int i = 0; i != 25; ++i)
        edge_bucket_take(&b, 10000000);
    CHECK(edge_bucket_wait(&b, 10000000) > 0);

    edge_bucket_init(&b, 1, 0, 0); /* no limit */
    for (int i = 0; i != 100; ++i) {
        CHECK_INT_EQ(edge_bucket_wait(&b, 0), 0);
        edge_bucket_take(&b, 0);
    }
}

static void test_backoff(void)
{
    CHECK_INT_EQ(edge_backoff_ms(1, 60000, 0), 250);
    CHECK_INT_EQ(edge_backoff_ms(1, 60000, 250), 500);
    CHECK_INT_EQ(edge_backoff_ms(2, 60000, 0), 500);
    CHECK_INT_EQ(edge_backoff_ms(3, 60000, 1000), 2000);
    CHECK_INT_EQ(edge_backoff_ms(30, 60000, 0), 30000); /* capped, never overflowing */
    CHECK(edge_backoff_ms(30, 60000, 123456789) <= 60000);
    CHECK(edge_backoff_ms(200, 60000, 7) >= 30000);
}

int main(void)
{
    test_change_parse();
    test_take_and_merge();
    test_collapse();
    test_bucket();
    test_backoff();
    return unit_report("edge batch");
}
