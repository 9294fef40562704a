/* known_test.c: plugin/avatar/known.c: which remembered picture versions a request may trust without a lookup, and how
 * the invalidation path's notifications take that trust away (per provider, for every avatar, for an unknown change). */
#include "unit.h"
#include "avatar/internal.h"

#define TOKEN "0123456789abcdef"

static int current(int64_t id, const char *token)
{
    return avatar_known_is_current(id, token, strlen(token));
}

/* remember: what a lookup sent now and answered `token` records. */
static void remember(int64_t id, const char *token)
{
    avatar_known_remember(id, token, strlen(token), avatar_known_now());
}

/* observe: the observer told of a change with `tags` that moved the generation to `generation`. */
static void observe(const char *tags, uint64_t generation)
{
    avatar_known_observe(&(booka_invalidation_change_t){.tags = tags, .generation = generation});
}

static void test_remember(void)
{
    CHECK(!current(7, TOKEN));
    remember(7, TOKEN);
    CHECK(current(7, TOKEN));
    CHECK(!current(7, "0123456789abcdee")); /* a stale v */
    CHECK(!current(7, "0123456789abcde"));  /* a prefix */
    CHECK(!current(8, TOKEN));              /* another provider's */
    CHECK(!current(7, ""));
    avatar_known_forget(8); /* another provider: 7 stays */
    CHECK(current(7, TOKEN));
    avatar_known_forget(7);
    CHECK(!current(7, TOKEN));
    /* stamp 0: the lookup could not confirm anything (LISTEN down, replica behind): forgets */
    remember(7, TOKEN);
    avatar_known_remember(7, TOKEN, 16, 0);
    CHECK(!current(7, TOKEN));
    /* tokens longer than AVATAR_KNOWN_TOKEN_MAX are never remembered */
    char longer[AVATAR_KNOWN_TOKEN_MAX + 2];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    remember(9, longer);
    CHECK(!current(9, longer));
    longer[AVATAR_KNOWN_TOKEN_MAX] = '\0';
    remember(9, longer);
    CHECK(current(9, longer));
}

/* test_notifications: a provider's tag ends the trust in what was confirmed before it, its own only; `avatar` and an
 * unknown change end all of it; list tags end nothing. */
static void test_notifications(void)
{
    remember(10, TOKEN);
    remember(11, TOKEN);
    observe("list-all list-cat-dj", 500);
    observe("", 501); /* a write nothing depends on */
    CHECK(current(10, TOKEN) && current(11, TOKEN));
    observe("list-all avatar-10 list-cat-dj", 502);
    CHECK(!current(10, TOKEN));
    CHECK(current(11, TOKEN));
    remember(10, TOKEN); /* looked up again after the notification: trusted again */
    CHECK(current(10, TOKEN));

    observe("avatar list", 503); /* a bulk write or TRUNCATE */
    CHECK(!current(10, TOKEN) && !current(11, TOKEN));
    remember(10, TOKEN);
    CHECK(current(10, TOKEN));
    observe(NULL, 504); /* unknown: a reconnect, a payload without tags */
    CHECK(!current(10, TOKEN));
    remember(10, TOKEN);
    observe("avatar-", 505); /* a tag of a form this version does not know: everything */
    CHECK(!current(10, TOKEN));
    remember(10, TOKEN);
    observe("avatar-99999999999999999999", 506);
    CHECK(!current(10, TOKEN));
    remember(10, TOKEN);
    observe("avatars-x", 507);
    CHECK(!current(10, TOKEN));
}

/* test_races: an answer to a lookup sent before a notification arrived is not trusted, even if it comes back after it;
 * and an answer older than the one remembered does not replace it. */
static void test_races(void)
{
    uint64_t sent = avatar_known_now();
    observe("avatar-20", 600); /* the picture changed while the lookup was out */
    avatar_known_remember(20, TOKEN, 16, sent);
    CHECK(!current(20, TOKEN));

    uint64_t older = avatar_known_now();
    observe("avatar-21", 601);
    uint64_t newer = avatar_known_now();
    avatar_known_remember(21, "new0000000000000", 16, newer);
    avatar_known_remember(21, TOKEN, 16, older); /* came back last */
    CHECK(current(21, "new0000000000000"));
    CHECK(!current(21, TOKEN));
}

/* test_many_providers: providers that share a slot only cost each other lookups, never a wrong answer. */
static void test_many_providers(void)
{
    int wrong = 0, kept = 0;
    for (int64_t id = 100000; id != 140000; ++id)
        remember(id, TOKEN);
    for (int64_t id = 100000; id != 140000; ++id) {
        kept += current(id, TOKEN);
        wrong += current(id, "0123456789abcdee");
    }
    CHECK_INT_EQ(wrong, 0);
    CHECK(kept > 0);
    CHECK(current(139999, TOKEN)); /* the newest of its slot */
    observe("avatar-139999", 700);
    CHECK(!current(139999, TOKEN));
}

int main(void)
{
    test_remember();
    test_notifications();
    test_races();
    test_many_providers();
    return unit_report("avatar_known");
}
