/* request_test.c: plugin/list/request.c: parsing, validation (every 422 case), normalisation, the canonical string. */
#include <stdlib.h>
#include "list/list.h"
#include "unit.h"

static list_request_t req;
static booka_buf_t errors;
static char error_text[16384];

/* parse: runs the parser on `query`; the errors (if any) end up NUL-terminated in error_text. */
static list_parse_result_t parse(const char *query)
{
    list_parse_result_t ret;
    booka_buf_free(&errors);
    ret = list_request_parse(&req, query, query != NULL ? strlen(query) : 0, &errors);
    snprintf(error_text, sizeof(error_text), "%.*s", (int)errors.len, errors.base != NULL ? errors.base : "");
    return ret;
}

static int has(const char *needle)
{
    return strstr(error_text, needle) != NULL;
}

/* canonical: the canonical string of `query`, which must be valid. */
static const char *canonical(const char *query)
{
    static char out[4096];
    booka_buf_t b = {NULL};
    if (parse(query) != LIST_PARSE_OK)
        return "(invalid)";
    list_request_canonical(&req, &b);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, b.base);
    booka_buf_free(&b);
    return out;
}

static void test_defaults(void)
{
    CHECK_INT_EQ(parse(NULL), LIST_PARSE_OK);
    CHECK_INT_EQ(req.sort, LIST_SORT_NEWEST);
    CHECK_INT_EQ(req.page, 1);
    CHECK_INT_EQ(req.limit, 20);
    CHECK_INT_EQ(req.fields, LIST_ALL_FIELDS);
    CHECK_STR_EQ(req.category, "");
    CHECK_INT_EQ(req.include_price_distribution, 0);
    CHECK_STR_EQ(canonical(""), "limit=20&page=1&sort=newest");
}

static void test_empty_repeated_unknown(void)
{
    /* empty counts as absent */
    CHECK_STR_EQ(
        canonical("sort=&category=&page=&limit=&fields=&location=&min_price=&max_price=&when=&include_price_distribution="),
        "limit=20&page=1&sort=newest");
    /* the last occurrence wins, even over a bad earlier one, and an empty last one means absent */
    CHECK_STR_EQ(canonical("limit=abc&limit=5"), "limit=5&page=1&sort=newest");
    CHECK_STR_EQ(canonical("sort=top_rated&sort="), "limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("sort=top_rated&sort=price_low"), "limit=20&page=1&sort=price_low");
    /* unknown names are ignored, whatever their value */
    CHECK_STR_EQ(canonical("utm_source=x%ff%00&_=123&Sort=bogus&sort=most_booked&&=&novalue"), "limit=20&page=1&sort=most_booked");
    /* a name without '=' is present with an empty value */
    CHECK_STR_EQ(canonical("sort"), "limit=20&page=1&sort=newest");
}

static void test_percent_decoding(void)
{
    CHECK_STR_EQ(canonical("%73ort=most%5Fbooked"), "limit=20&page=1&sort=most_booked");
    CHECK_STR_EQ(canonical("category=Sound+Service"), "category=sound_service&limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("category=Sound%20%20-%09Service"), "category=sound_service&limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("location=Cape%2BTown"), "limit=20&location=cape%2Btown&page=1&sort=newest");
    /* a malformed escape is kept as it is */
    CHECK_STR_EQ(canonical("location=100%zz"), "limit=20&location=100%25zz&page=1&sort=newest");
    CHECK_STR_EQ(canonical("location=%e2%82%ac"), "limit=20&location=%E2%82%AC&page=1&sort=newest");
    /* invalid UTF-8 or NUL in a value we read is 422; in one we ignore it is not */
    CHECK_INT_EQ(parse("category=%ff"), LIST_PARSE_INVALID);
    CHECK(has("\"string_unicode\"") && has("[\"query\", \"category\"]"));
    CHECK_INT_EQ(parse("location=%c3%28"), LIST_PARSE_INVALID);
    CHECK(has("\"string_unicode\""));
    CHECK_INT_EQ(parse("location=%ed%a0%80"), LIST_PARSE_INVALID); /* a surrogate */
    CHECK_INT_EQ(parse("location=a%00b"), LIST_PARSE_INVALID);
    CHECK(has("NUL") && has("[\"query\", \"location\"]"));
    CHECK_INT_EQ(parse("sort=newest%00"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("other=%ff%00"), LIST_PARSE_OK);
}

static void test_category(void)
{
    const char *same[] = {"category=dj", "category=Dj", "category=DJ", "category=%20dj%09", "category=x&category=dj"};
    CHECK_STR_EQ(canonical("category=Dj"), "category=dj&limit=20&page=1&sort=newest");
    for (size_t i = 0; i != sizeof(same) / sizeof(same[0]); ++i) {
        CHECK_INT_EQ(parse(same[i]), LIST_PARSE_OK);
        CHECK_STR_EQ(req.category, "dj");
    }
    CHECK_INT_EQ(parse("category=dj&category="), LIST_PARSE_OK);
    CHECK_STR_EQ(req.category, "");
    CHECK_STR_EQ(canonical("category=Sound Service"), "category=sound_service&limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("category=sound-service"), "category=sound_service&limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("category=sound_service"), "category=sound_service&limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("category=Sound--Service"), "category=sound_service&limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("category=%C3%89V%C3%89NEMENT"), "category=%C3%89v%C3%89nement&limit=20&page=1&sort=newest");
    /* white space only normalises to nothing: absent */
    CHECK_STR_EQ(canonical("category=%20%20"), "limit=20&page=1&sort=newest");
    /* hostile text is just a (percent-encoded) slug */
    CHECK_STR_EQ(canonical("category=x'%3B drop table users%3B --"),
                 "category=x%27%3B_drop_table_users%3B_&limit=20&page=1&sort=newest");
}

static void test_slug(void)
{
    char out[64];
    CHECK_INT_EQ(list_normalize_slug("  Sound \t- Service\n", strlen("  Sound \t- Service\n"), out), 13);
    CHECK_STR_EQ(out, "sound_service");
    list_normalize_slug("-DJ-", 4, out);
    CHECK_STR_EQ(out, "_dj_");
    list_normalize_slug("A\nB", 3, out); /* only spaces, tabs and hyphens separate */
    CHECK_STR_EQ(out, "a\nb");
}

static void test_sort(void)
{
    const char *sorts[] = {"newest", "most_booked", "top_rated", "price_low", "price_high"};
    char q[64];
    for (int i = 0; i != LIST_NUM_SORTS; ++i) {
        snprintf(q, sizeof(q), "sort=%s", sorts[i]);
        CHECK_INT_EQ(parse(q), LIST_PARSE_OK);
        CHECK_INT_EQ(req.sort, i);
    }
    CHECK_INT_EQ(parse("sort=MOST_BOOKED"), LIST_PARSE_INVALID);
    CHECK(has("\"type\": \"enum\"") && has("[\"query\", \"sort\"]") && has("\"input\": \"MOST_BOOKED\""));
    CHECK(has("Input should be 'most_booked', 'top_rated', 'newest', 'price_low' or 'price_high'"));
    CHECK_INT_EQ(parse("sort=%20newest"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("sort=rating"), LIST_PARSE_INVALID);
}

static void test_page_and_limit(void)
{
    CHECK_STR_EQ(canonical("page=3&limit=12"), "limit=12&page=3&sort=newest");
    CHECK_STR_EQ(canonical("page=007&limit=%2B5"), "limit=5&page=7&sort=newest");
    CHECK_STR_EQ(canonical("page=1000000000&limit=100"), "limit=100&page=1000000000&sort=newest");
    CHECK_INT_EQ(parse("limit=0"), LIST_PARSE_INVALID);
    CHECK(has("\"type\": \"greater_than_equal\"") && has("\"ctx\": {\"ge\": 1}") && has("[\"query\", \"limit\"]"));
    CHECK_INT_EQ(parse("limit=101"), LIST_PARSE_INVALID);
    CHECK(has("\"type\": \"less_than_equal\"") && has("Input should be less than or equal to 100") && has("{\"le\": 100}"));
    CHECK_INT_EQ(parse("limit=-1"), LIST_PARSE_INVALID);
    CHECK(has("greater_than_equal"));
    CHECK_INT_EQ(parse("limit=1.5"), LIST_PARSE_INVALID);
    CHECK(has("\"type\": \"int_parsing\"") && has("Input should be a valid integer, unable to parse string as an integer"));
    CHECK_INT_EQ(parse("limit=%2B"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("limit=+5"), LIST_PARSE_INVALID); /* '+' is a space */
    CHECK_INT_EQ(parse("limit=%2010"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("page=0"), LIST_PARSE_INVALID);
    CHECK(has("[\"query\", \"page\"]") && has("greater_than_equal"));
    CHECK_INT_EQ(parse("page=1000000001"), LIST_PARSE_INVALID);
    CHECK(has("less_than_equal") && has("1000000000"));
    CHECK_INT_EQ(parse("page=99999999999999999999999999"), LIST_PARSE_INVALID);
    CHECK(has("less_than_equal"));
    CHECK_INT_EQ(parse("page=-99999999999999999999999999"), LIST_PARSE_INVALID);
    CHECK(has("greater_than_equal"));
    CHECK_INT_EQ(parse("page=abc"), LIST_PARSE_INVALID);
}

static void test_fields(void)
{
    /* order, duplicates and white space do not matter; output order is fixed */
    CHECK_STR_EQ(canonical("fields=business_name,id"), "fields=id,business_name&limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("fields=id,business_name,id,%20business_name%20,,"),
                 "fields=id,business_name&limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("fields=user.last_name,user.first_name,rating"),
                 "fields=rating,user.first_name,user.last_name&limit=20&page=1&sort=newest");
    CHECK_INT_EQ(req.fields & LIST_LEAN_FIELDS, 0);
    CHECK_STR_EQ(canonical("fields=id,user_id,business_name,profile_picture_url,created_at,updated_at"),
                 "fields=id,user_id,business_name,profile_picture_url,created_at,updated_at&limit=20&page=1&sort=newest");
    CHECK_INT_EQ(req.fields & ~LIST_LEAN_FIELDS, 0);
    /* every field is the same as no `fields` */
    CHECK_STR_EQ(
        canonical("fields=id,user_id,business_name,custom_subtitle,profile_picture_url,hourly_rate,price_visible,rating,"
                  "rating_count,book_count,location,service_categories,created_at,updated_at,user.first_name,user.last_name"),
        "limit=20&page=1&sort=newest");
    CHECK_STR_EQ(canonical("fields=,%20,"), "limit=20&page=1&sort=newest");
    CHECK_INT_EQ(parse("fields=id,foo,user.age"), LIST_PARSE_INVALID);
    CHECK(has("\"type\": \"value_error\"") && has("[\"query\", \"fields\"]") && has("unknown fields 'foo', 'user.age'"));
    CHECK(has("allowed fields are: id, user_id, business_name") && has("\"allowed\": [\"id\", \"user_id\""));
    CHECK_INT_EQ(parse("fields=ID"), LIST_PARSE_INVALID);
    CHECK(has("unknown field 'ID'"));
    {
        char q[2048] = "fields=id";
        for (int i = 0; i != 100; ++i)
            strcat(q, ",id");
        CHECK_INT_EQ(parse(q), LIST_PARSE_INVALID);
        CHECK(has("\"type\": \"too_long\"") && has("at most 100 items after validation, not 101"));
        q[strlen(q) - 3] = '\0';
        CHECK_INT_EQ(parse(q), LIST_PARSE_OK);
    }
}

static void test_text_lengths(void)
{
    char q[2048];
    memset(q, 0, sizeof(q));
    strcpy(q, "location=");
    for (int i = 0; i != 200; ++i)
        strcat(q, "%C3%A9"); /* 200 characters, 400 bytes */
    CHECK_INT_EQ(parse(q), LIST_PARSE_OK);
    strcat(q, "x");
    CHECK_INT_EQ(parse(q), LIST_PARSE_INVALID);
    CHECK(has("\"type\": \"string_too_long\"") && has("String should have at most 200 characters") && has("{\"max_length\": 200}"));
    q[0] = 'c', q[1] = 'a', q[2] = 't', q[3] = 'e', q[4] = 'g', q[5] = 'o', q[6] = 'r', q[7] = 'y', q[8] = '=';
    CHECK_INT_EQ(parse(q), LIST_PARSE_INVALID);
    CHECK(has("[\"query\", \"category\"]"));
}

static void test_location(void)
{
    CHECK_STR_EQ(canonical("location=Cape%20Town"), "limit=20&location=cape%20town&page=1&sort=newest");
    CHECK_STR_EQ(req.location, "cape town");
    CHECK_STR_EQ(canonical("location=50%25_off%5C"), "limit=20&location=50%25_off%5C&page=1&sort=newest");
    CHECK_STR_EQ(req.location, "50%_off\\");
    /* leading and trailing spaces are part of the substring */
    CHECK_STR_EQ(canonical("location=+town"), "limit=20&location=%20town&page=1&sort=newest");
}

static void test_prices(void)
{
    CHECK_STR_EQ(canonical("min_price=0500.50&max_price=1e3"), "(invalid)");
    CHECK(has("\"type\": \"decimal_parsing\"") && has("[\"query\", \"max_price\"]") && has("Input should be a valid decimal"));
    CHECK_STR_EQ(canonical("min_price=0500.50&max_price=1000"), "limit=20&max_price=1000&min_price=500.5&page=1&sort=newest");
    CHECK_STR_EQ(canonical("min_price=.5&max_price=5."), "limit=20&max_price=5&min_price=0.5&page=1&sort=newest");
    CHECK_STR_EQ(canonical("min_price=-0&max_price=%2B0.000"), "limit=20&max_price=0&min_price=0&page=1&sort=newest");
    CHECK_STR_EQ(canonical("min_price=100&max_price=100.00"), "limit=20&max_price=100&min_price=100&page=1&sort=newest");
    CHECK_INT_EQ(parse("min_price=-1"), LIST_PARSE_INVALID);
    CHECK(has("greater_than_equal") && has("Input should be greater than or equal to 0") && has("[\"query\", \"min_price\"]"));
    CHECK_INT_EQ(parse("max_price=-0.01"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("min_price=abc"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("min_price=."), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("min_price=1.2.3"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("min_price=%201"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("min_price=nan"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("min_price=1234567890123456789012345678901"), LIST_PARSE_INVALID);
    CHECK(has("decimal_max_digits"));
    CHECK_INT_EQ(parse("min_price=000000000000000000000000000000001.5"), LIST_PARSE_OK);
    /* min > max, compared as decimals */
    CHECK_INT_EQ(parse("min_price=1000.01&max_price=1000"), LIST_PARSE_INVALID);
    CHECK(has("min_price must not be greater than max_price"));
    CHECK_INT_EQ(parse("min_price=999&max_price=1000"), LIST_PARSE_OK);
    CHECK_INT_EQ(parse("min_price=9&max_price=10"), LIST_PARSE_OK);
    CHECK_INT_EQ(parse("min_price=0.5&max_price=0.45"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("min_price=0.45&max_price=0.5"), LIST_PARSE_OK);
    CHECK_INT_EQ(parse("min_price=10&max_price=9.99"), LIST_PARSE_INVALID);
}

static void test_when(void)
{
    CHECK_STR_EQ(canonical("when=2024-02-29"), "limit=20&page=1&sort=newest&when=2024-02-29");
    CHECK_INT_EQ(parse("when=2023-02-29"), LIST_PARSE_INVALID);
    CHECK(has("\"type\": \"date_parsing\"") && has("day value is outside expected range") && has("[\"query\", \"when\"]"));
    CHECK_INT_EQ(parse("when=1900-02-29"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("when=2000-02-29"), LIST_PARSE_OK);
    CHECK_INT_EQ(parse("when=2024-13-01"), LIST_PARSE_INVALID);
    CHECK(has("month value is outside expected range"));
    CHECK_INT_EQ(parse("when=2024-04-31"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("when=2024-4-01"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("when=2024/04/01"), LIST_PARSE_INVALID);
    CHECK(has("invalid date separator"));
    CHECK_INT_EQ(parse("when=2024-04-01T00:00:00"), LIST_PARSE_INVALID);
    CHECK(has("unexpected extra characters"));
    CHECK_INT_EQ(parse("when=2024-04"), LIST_PARSE_INVALID);
    CHECK(has("input is too short"));
    CHECK_INT_EQ(parse("when=0000-01-01"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("when=tomorrow"), LIST_PARSE_INVALID);
    CHECK(has("invalid character in year"));
}

static void test_booleans(void)
{
    const char *yes[] = {"true", "TRUE", "True", "1", "yes", "YeS", "on", "ON"};
    const char *no[] = {"false", "FALSE", "0", "no", "NO", "off", "Off"};
    char q[64];
    for (size_t i = 0; i != sizeof(yes) / sizeof(yes[0]); ++i) {
        snprintf(q, sizeof(q), "include_price_distribution=%s", yes[i]);
        CHECK_STR_EQ(canonical(q), "include_price_distribution=true&limit=20&page=1&sort=newest");
    }
    for (size_t i = 0; i != sizeof(no) / sizeof(no[0]); ++i) {
        snprintf(q, sizeof(q), "include_price_distribution=%s", no[i]);
        CHECK_STR_EQ(canonical(q), "limit=20&page=1&sort=newest");
    }
    CHECK_INT_EQ(parse("include_price_distribution=2"), LIST_PARSE_INVALID);
    CHECK(has("\"type\": \"bool_parsing\"") && has("Input should be a valid boolean, unable to interpret input"));
    CHECK_INT_EQ(parse("include_price_distribution=t"), LIST_PARSE_INVALID);
    CHECK_INT_EQ(parse("include_price_distribution=truee"), LIST_PARSE_INVALID);
}

static void test_several_errors(void)
{
    CHECK_INT_EQ(parse("limit=abc&page=0&sort=x&when=x&include_price_distribution=x&min_price=x&fields=x"), LIST_PARSE_INVALID);
    CHECK(error_text[0] == '[' && error_text[strlen(error_text) - 1] == ']');
    CHECK(has("\"sort\"") && has("\"page\"") && has("\"limit\"") && has("\"fields\"") && has("\"min_price\"") && has("\"when\"") &&
          has("\"include_price_distribution\""));
    /* reported in the order of API.md's table */
    CHECK(strstr(error_text, "\"sort\"") < strstr(error_text, "\"page\"") &&
          strstr(error_text, "\"page\"") < strstr(error_text, "\"limit\"") &&
          strstr(error_text, "\"when\"") < strstr(error_text, "\"include_price_distribution\""));
}

static void test_query_length(void)
{
    char *q = malloc(LIST_QUERY_MAX + 2);
    memset(q, 'a', LIST_QUERY_MAX + 1);
    q[LIST_QUERY_MAX + 1] = '\0';
    CHECK_INT_EQ(parse(q), LIST_PARSE_TOO_LONG);
    q[LIST_QUERY_MAX] = '\0';
    CHECK_INT_EQ(parse(q), LIST_PARSE_OK);
    free(q);
}

static void test_canonical_equivalence(void)
{
    /* differ only in order, fields order/duplicates, category spelling, ignored params, defaults spelled out */
    const char *a = canonical("category=Dj&sort=most_booked&limit=12&fields=business_name,id");
    char first[512];
    snprintf(first, sizeof(first), "%s", a);
    CHECK_STR_EQ(first, "category=dj&fields=id,business_name&limit=12&page=1&sort=most_booked");
    CHECK_STR_EQ(canonical("fields=id,business_name,id&limit=12&sort=most_booked&category=dj&utm_campaign=x&_=1"), first);
    CHECK_STR_EQ(canonical("page=1&category=%20DJ&limit=12&sort=most_booked&fields=business_name,%20id"), first);
    CHECK_STR_EQ(canonical("category=dj&category=Dj&limit=99&limit=12&sort=most_booked&fields=id,business_name&page=01"), first);
    /* and requests that differ do not collide */
    CHECK(strcmp(canonical("category=dj&limit=12&sort=most_booked&fields=id"), first) != 0);
    CHECK(strcmp(canonical("category=d-j&limit=12&sort=most_booked&fields=id,business_name"), first) != 0);
    /* values cannot forge structure */
    CHECK_STR_EQ(canonical("location=a%26page%3D9"), "limit=20&location=a%26page%3D9&page=1&sort=newest");
    CHECK_STR_EQ(canonical("sort=newest&include_price_distribution=yes&when=2024-01-02&location=x&min_price=1&max_price=2&"
                           "category=c&fields=rating&page=2&limit=3"),
                 "category=c&fields=rating&include_price_distribution=true&limit=3&location=x&max_price=2&min_price=1&page=2&"
                 "sort=newest&when=2024-01-02");
}

/* memory running out while an error is written leaves the query invalid (it used to parse as OK with defaults, and
 * the handler would now remember that) */
static void test_error_out_of_memory(void)
{
    booka_buf_t oom = {.oom = 1};
    CHECK_INT_EQ(list_request_parse(&req, "limit=abc", 9, &oom), LIST_PARSE_INVALID);
    CHECK_INT_EQ(list_request_parse(&req, "fields=nope", 11, &oom), LIST_PARSE_INVALID);
    booka_buf_free(&oom);
}

/* the per-thread memo hands back what the parser and the canonical form gave, for exactly the bytes remembered */
static void test_memo(void)
{
    const char *q = "sort=newest&category=DJ&limit=7";
    char canon[4096];
    const list_memo_entry_t *m;

    CHECK(list_memo_get(q, strlen(q)) == NULL);
    snprintf(canon, sizeof(canon), "%s", canonical(q));
    list_memo_put(q, strlen(q), &req, canon, strlen(canon));
    m = list_memo_get(q, strlen(q));
    CHECK(m != NULL && memcmp(&m->request, &req, sizeof(req)) == 0);
    CHECK(m != NULL && m->canonical.len == strlen(canon) && memcmp(m->canonical.base, canon, strlen(canon)) == 0);
    CHECK(list_memo_get(q, strlen(q) - 1) == NULL);                             /* a prefix is another query string */
    CHECK(list_memo_get("sort=newest&category=DJ&limit=8", strlen(q)) == NULL); /* same length, other bytes */

    snprintf(canon, sizeof(canon), "%s", canonical(NULL)); /* no query string at all is remembered too */
    list_memo_put(NULL, 0, &req, canon, strlen(canon));
    m = list_memo_get(NULL, 0);
    CHECK(m != NULL && m->canonical.len == strlen(canon) && m->request.limit == req.limit);

    char longq[600];
    memset(longq, 'a', sizeof(longq));
    longq[0] = 'x', longq[1] = '=';
    list_memo_put(longq, sizeof(longq), &req, canon, strlen(canon)); /* too long to remember: not remembered */
    CHECK(list_memo_get(longq, sizeof(longq)) == NULL);
}

int main(void)
{
    test_defaults();
    test_empty_repeated_unknown();
    test_percent_decoding();
    test_category();
    test_slug();
    test_sort();
    test_page_and_limit();
    test_fields();
    test_text_lengths();
    test_location();
    test_prices();
    test_when();
    test_booleans();
    test_several_errors();
    test_query_length();
    test_canonical_equivalence();
    test_memo();
    test_error_out_of_memory();
    booka_buf_free(&errors);
    return unit_report("list_request");
}
