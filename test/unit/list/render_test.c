/* render_test.c: plugin/list/render.c and avatar_token.c: bodies built from result rows (made with libpq's
 * PQmakeEmptyPGresult, no server), the avatar URL and its version token. */
#include "http/http.h"
#include "list/avatar_token.h"
#include "list/list.h"
#include "unit.h"

static list_request_t req;

static void parse(const char *query)
{
    booka_buf_t errors = {NULL};
    CHECK_INT_EQ(list_request_parse(&req, query, strlen(query), &errors), LIST_PARSE_OK);
    booka_buf_free(&errors);
}

/* make_result: a PGRES_TUPLES_OK result of `cols` columns; values[row * cols + col], NULL for SQL NULL. */
static PGresult *make_result(int cols, int rows, const char *const *values)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc attrs[32];
    memset(attrs, 0, sizeof(attrs));
    for (int c = 0; c != cols; ++c)
        attrs[c].name = "c", attrs[c].format = 0, attrs[c].typlen = -1, attrs[c].atttypmod = -1;
    PQsetResultAttrs(res, cols, attrs);
    for (int r = 0; r != rows; ++r)
        for (int c = 0; c != cols; ++c) {
            const char *v = values[r * cols + c];
            PQsetvalue(res, r, c, (char *)v, v == NULL ? -1 : (int)strlen(v));
        }
    return res;
}

/* render_counts: the body for req from page rows and count rows (bucket, n), NUL-terminated in a static buffer. */
static const char *render_counts(PGresult *page, PGresult *counts)
{
    static char out[8192];
    PGresult *results[2] = {page, counts};
    booka_buf_t b = {NULL};
    int ret = list_render(&req, results, 2, &b);
    snprintf(out, sizeof(out), "%s%.*s", ret == 0 ? "" : "(error)", (int)b.len, b.base);
    booka_buf_free(&b);
    PQclear(page);
    PQclear(counts);
    return out;
}

/* render: the same with every provider counted in bucket 6 (no price). */
static const char *render(PGresult *page, const char *total)
{
    const char *counts[] = {"6", total};
    return render_counts(page, make_result(2, 1, counts));
}

static void test_version_token(void)
{
    char token[17];
    /* left(md5('/static/profile_pics/ab12.jpg'), 16), as the schema stores it */
    booka_avatar_version_token("/static/profile_pics/ab12.jpg", strlen("/static/profile_pics/ab12.jpg"), token);
    CHECK_STR_EQ(token, "e3b873bae99a4c18");
    booka_avatar_version_token("", 0, token);
    CHECK_STR_EQ(token, "d41d8cd98f00b204");
    booka_avatar_version_token("abc", 3, token);
    CHECK_STR_EQ(token, "900150983cd24fb0");
}

static void test_lean_item(void)
{
    const char *rows[] = {"7",  "Ace \"DJ\"", "0123456789abcdef", "1704164645120000", "1704164645000000", "12",
                          NULL, NULL,         "1704164645123456", "1704164645100000"};
    parse("fields=updated_at,business_name,id,profile_picture_url,created_at");
    CHECK_STR_EQ(
        render(make_result(5, 2, rows), "137"),
        "{\"data\":[{\"id\":7,\"business_name\":\"Ace \\\"DJ\\\"\",\"profile_picture_url\":\"/api/v1/img/avatar/7?w=256&dpr=2&q=90&"
        "v=0123456789abcdef\",\"created_at\":\"2024-01-02T03:04:05.12Z\",\"updated_at\":\"2024-01-02T03:04:05Z\"},"
        "{\"id\":12,\"business_name\":null,\"profile_picture_url\":null,\"created_at\":\"2024-01-02T03:04:05.123456Z\","
        "\"updated_at\":\"2024-01-02T03:04:05.1Z\"}],\"total\":137,\"page\":1,\"limit\":20}");
}

static void test_public_origin(void)
{
    const char *rows[] = {"9", "feedface00000000"};
    booka_http_settings.public_origin = h2o_iovec_init(H2O_STRLIT("https://api.example.com"));
    parse("fields=profile_picture_url&page=2&limit=1");
    CHECK_STR_EQ(
        render(make_result(2, 1, rows), "5"),
        "{\"data\":[{\"profile_picture_url\":\"https://api.example.com/api/v1/img/avatar/9?w=256&dpr=2&q=90&v=feedface00000000\"}],"
        "\"total\":5,\"page\":2,\"limit\":1}");
    booka_http_settings.public_origin = h2o_iovec_init(NULL, 0);
}

static void test_full_item(void)
{
    /* user_id, then every field other than id/user_id in list order */
    const char *rows[] = {"3",
                          "Biz",
                          "Sub\n",
                          NULL,
                          "1500.00",
                          "t",
                          "4.50",
                          "2",
                          "10",
                          "Cape",
                          "[\"DJ\",\"MC\"]",
                          "1704067200000000",
                          "1704067200000001",
                          "Ann",
                          "Lee",
                          "4",
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          "f",
                          NULL,
                          "0",
                          "0",
                          NULL,
                          NULL,
                          "1704067200000000",
                          "1704067200000000",
                          "",
                          "O'Neil"};
    parse("");
    CHECK_STR_EQ(
        render(make_result(15, 2, rows), "2"),
        "{\"data\":[{\"id\":3,\"user_id\":3,\"business_name\":\"Biz\",\"custom_subtitle\":\"Sub\\n\",\"profile_picture_url\":null,"
        "\"hourly_rate\":\"1500.00\",\"price_visible\":true,\"rating\":4.5,\"rating_count\":2,\"book_count\":10,\"location\":"
        "\"Cape\",\"service_categories\":[\"DJ\",\"MC\"],\"created_at\":\"2024-01-01T00:00:00Z\",\"updated_at\":"
        "\"2024-01-01T00:00:00.000001Z\",\"user\":{\"first_name\":\"Ann\",\"last_name\":\"Lee\"}},"
        "{\"id\":4,\"user_id\":4,\"business_name\":null,\"custom_subtitle\":null,\"profile_picture_url\":null,\"hourly_rate\":"
        "null,\"price_visible\":false,\"rating\":null,\"rating_count\":0,\"book_count\":0,\"location\":null,"
        "\"service_categories\":[],\"created_at\":\"2024-01-01T00:00:00Z\",\"updated_at\":\"2024-01-01T00:00:00Z\",\"user\":"
        "{\"first_name\":\"\",\"last_name\":\"O'Neil\"}}],\"total\":2,\"page\":1,\"limit\":20}");
}

static void test_user_subfields_and_ratings(void)
{
    const char *rows[] = {"5", "5.00", "Zed", "6", "4.25", "Y", "8", "0.10", "X"};
    parse("fields=user.last_name,rating");
    CHECK_STR_EQ(render(make_result(3, 3, rows), "3"),
                 "{\"data\":[{\"rating\":5.0,\"user\":{\"last_name\":\"Zed\"}},{\"rating\":4.25,\"user\":{\"last_name\":\"Y\"}},"
                 "{\"rating\":0.1,\"user\":{\"last_name\":\"X\"}}],\"total\":3,\"page\":1,\"limit\":20}");
}

static void test_empty_page_and_distribution(void)
{
    /* the total sums every bucket, 6 (no price) included; a bucket may come in several rows */
    const char *counts[] = {"1", "4", "5", "2", "6", "35", "5", "1"};
    parse("fields=id&include_price_distribution=on&page=9");
    CHECK_STR_EQ(
        render_counts(make_result(1, 0, NULL), make_result(2, 4, counts)),
        "{\"data\":[],\"total\":42,\"page\":9,\"limit\":20,\"price_distribution\":[{\"min\":0,\"max\":500,\"count\":0},"
        "{\"min\":500,\"max\":1000,\"count\":4},{\"min\":1000,\"max\":2000,\"count\":0},{\"min\":2000,\"max\":5000,\"count\":0},"
        "{\"min\":5000,\"max\":10000,\"count\":0},{\"min\":10000,\"max\":null,\"count\":3}]}");
    /* an unknown category: no count rows at all */
    parse("fields=id&category=nope");
    CHECK_STR_EQ(render_counts(make_result(1, 0, NULL), make_result(2, 0, NULL)),
                 "{\"data\":[],\"total\":0,\"page\":1,\"limit\":20}");
}

static void test_timestamps(void)
{
    static const struct {
        const char *us, *json;
    } cases[] = {
        {"-1", "\"1969-12-31T23:59:59.999999Z\""},
        {"-86400000000", "\"1969-12-31T00:00:00Z\""},
        {"0", "\"1970-01-01T00:00:00Z\""},
        {"951827696000010", "\"2000-02-29T12:34:56.00001Z\""},
        {"4107542400000000", "\"2100-03-01T00:00:00Z\""},
        {"-2208988800000000", "\"1900-01-01T00:00:00Z\""},
        {"253402300799999999", "\"9999-12-31T23:59:59.999999Z\""},
    };
    char expected[256];
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        const char *rows[] = {"1", cases[i].us};
        parse("fields=id,created_at");
        snprintf(expected, sizeof(expected), "{\"data\":[{\"id\":1,\"created_at\":%s}],\"total\":1,\"page\":1,\"limit\":20}",
                 cases[i].json);
        CHECK_STR_EQ(render(make_result(2, 1, rows), "1"), expected);
    }
}

static void test_shape_mismatch(void)
{
    const char *rows[] = {"1", "x"};
    parse("fields=id");
    CHECK_STR_EQ(render(make_result(2, 1, rows), "1"), "(error)");
}

int main(void)
{
    test_version_token();
    test_lean_item();
    test_public_origin();
    test_full_item();
    test_user_subfields_and_ratings();
    test_empty_page_and_distribution();
    test_timestamps();
    test_shape_mismatch();
    return unit_report("list_render");
}
