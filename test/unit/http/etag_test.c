/* etag_test.c: ETags from bytes, and If-None-Match per RFC 9110 13.1.2 (weak comparison, lists, *, malformed input). */
#include "unit.h"
#include "http/etag.h"

static int matches(const char *field, const char *etag)
{
    return booka_etag_field_matches(h2o_iovec_init(field, strlen(field)), h2o_iovec_init(etag, strlen(etag)));
}

int main(void)
{
    char a[BOOKA_ETAG_MAX], b[BOOKA_ETAG_MAX], c[BOOKA_ETAG_MAX];

    /* the tag depends on the bytes only: SHA-256("") starts e3b0c44298fc1c149afbf4c8996fb924 */
    CHECK_INT_EQ(booka_etag_of_body("", 0, 1, a), 36);
    CHECK_STR_EQ(a, "W/\"e3b0c44298fc1c149afbf4c8996fb924\"");
    booka_etag_of_body("{\"data\": []}", 12, 1, b);
    booka_etag_of_body("{\"data\": []}", 12, 1, c);
    CHECK_STR_EQ(b, c);
    CHECK(strcmp(a, b) != 0);
    booka_etag_of_body("{\"data\": []}", 12, 0, c);
    CHECK_STR_EQ(c, b + 2);
    /* the thread's digest context is reused: each call starts afresh (SHA-256("abc") starts ba7816bf8f01cfea...) */
    for (int i = 0; i != 3; ++i) {
        CHECK_INT_EQ(booka_etag_of_body("abc", 3, 0, a), 34);
        CHECK_STR_EQ(a, "\"ba7816bf8f01cfea414140de5dae2223\"");
    }

    /* weak comparison: W/ is ignored on either side */
    CHECK(matches("W/\"abc\"", "W/\"abc\""));
    CHECK(matches("\"abc\"", "W/\"abc\""));
    CHECK(matches("W/\"abc\"", "\"abc\""));
    CHECK(!matches("\"abd\"", "\"abc\""));
    CHECK(!matches("\"ABC\"", "\"abc\""));
    /* lists, white space, empty elements */
    CHECK(matches("\"x\", \"abc\"", "W/\"abc\""));
    CHECK(matches("\"x\",W/\"abc\" ,\"y\"", "\"abc\""));
    CHECK(matches(" , ,\"abc\",, ", "\"abc\""));
    CHECK(!matches("\"x\", \"y\"", "\"abc\""));
    /* a comma inside a quoted tag does not split it */
    CHECK(matches("\"a,b\"", "\"a,b\""));
    CHECK(!matches("\"a,b\"", "\"a\""));
    CHECK(matches("\"x\", W/\"a,b\"", "\"a,b\""));
    /* star */
    CHECK(matches("*", "\"anything\""));
    CHECK(matches("  *  ", "W/\"anything\""));
    CHECK(!matches("*, \"abc\"", "\"abc\""));
    /* malformed field values match nothing */
    CHECK(!matches("abc", "\"abc\""));
    CHECK(!matches("\"abc", "\"abc\""));
    CHECK(!matches("\"abc\" junk", "\"abc\""));
    CHECK(!matches("\"abc\"\"def\"", "\"abc\""));
    CHECK(!matches("w/\"abc\"", "\"abc\""));
    CHECK(!matches("W/ \"abc\"", "\"abc\""));
    CHECK(!matches("\"ab c\"", "\"ab c\""));
    CHECK(!matches("", "\"abc\""));
    CHECK(!matches("\"abc\"", "abc"));              /* our own tag must be well-formed too */
    CHECK(matches("\"\xc3\xa9\"", "\"\xc3\xa9\"")); /* obs-text */
    return unit_report("etag");
}
