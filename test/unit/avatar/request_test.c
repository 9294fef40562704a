/* request_test.c: plugin/avatar/request.c: the id, the query and its 422 entries, Accept negotiation, the variant's key
 * and ETag. */
#include <stdlib.h>
#include "unit.h"
#include "avatar/internal.h"

static int parse_id(const char *rest, int64_t *id)
{
    return avatar_parse_id(h2o_iovec_init(rest, strlen(rest)), id);
}

static void test_id(void)
{
    int64_t id = -1;

    CHECK(parse_id("/7", &id) == 0 && id == 7);
    CHECK(parse_id("/0042", &id) == 0 && id == 42);
    CHECK(parse_id("/9223372036854775807", &id) == 0 && id == INT64_MAX);
    CHECK(parse_id("/9223372036854775808", &id) == -1);
    CHECK(parse_id("/99999999999999999999", &id) == -1);
    CHECK(parse_id("", &id) == -1);
    CHECK(parse_id("/", &id) == -1);
    CHECK(parse_id("7", &id) == -1);
    CHECK(parse_id("/7/", &id) == -1);
    CHECK(parse_id("/7a", &id) == -1);
    CHECK(parse_id("/-7", &id) == -1);
    CHECK(parse_id("/+7", &id) == -1);
    CHECK(parse_id("/7/..", &id) == -1);
    CHECK(parse_id("/..", &id) == -1);
    CHECK(parse_id("/ 7", &id) == -1);
}

/* parse: runs the parser; returns 0 or -1 and leaves the errors JSON (or "") in *errors_out (static storage). */
static int parse(const char *query, avatar_params_t *params, const char **errors_out)
{
    static char saved[4096];
    booka_buf_t errors = {NULL};
    int ret = avatar_params_parse(params, query, query != NULL ? strlen(query) : 0, &errors);

    snprintf(saved, sizeof(saved), "%.*s", (int)errors.len, errors.base != NULL ? errors.base : "");
    booka_buf_free(&errors);
    *errors_out = saved;
    return ret;
}

static void test_defaults_and_values(void)
{
    avatar_params_t p;
    const char *errors;

    CHECK(parse(NULL, &p, &errors) == 0);
    CHECK(p.width == 256 && p.dpr == 1 && p.quality == 85 && p.format == AVATAR_FORMAT_AUTO && p.version[0] == '\0');
    CHECK(parse("w=128&dpr=2&q=90&fmt=webp&v=abc", &p, &errors) == 0);
    CHECK(p.width == 128 && p.dpr == 2 && p.quality == 90 && p.format == AVATAR_FORMAT_WEBP);
    CHECK_STR_EQ(p.version, "abc");
    CHECK(parse("w=16&dpr=1.5&q=1&fmt=jpeg", &p, &errors) == 0);
    CHECK(p.width == 16 && p.dpr == 1.5 && p.quality == 1 && p.format == AVATAR_FORMAT_JPEG);
    CHECK(parse("w=1024&dpr=4&q=100&fmt=auto", &p, &errors) == 0);
    CHECK(p.width == 1024 && p.dpr == 4 && p.quality == 100);
    /* empty counts as absent, the last occurrence wins, unknown names are ignored, values are percent-decoded */
    CHECK(parse("w=&q=&fmt=&dpr=", &p, &errors) == 0 && p.width == 256 && p.quality == 85);
    CHECK(parse("w=50&w=60&utm_source=x&cb=123", &p, &errors) == 0 && p.width == 60);
    CHECK(parse("w=%32%30%30&dpr=%2B1.25&fmt=%77ebp", &p, &errors) == 0);
    CHECK(p.width == 200 && p.dpr == 1.25 && p.format == AVATAR_FORMAT_WEBP);
    CHECK(parse("dpr=.5e1", &p, &errors) != 0); /* 5 is above 4 */
    CHECK(parse("dpr=2.", &p, &errors) == 0 && p.dpr == 2);
    CHECK(parse("&&w=20&", &p, &errors) == 0 && p.width == 20);
    /* a v longer than any token is kept as absent */
    CHECK(parse("v=0123456789012345678901234567890123456789012345678901234567890123456789", &p, &errors) == 0 &&
          p.version[0] == '\0');
}

static void test_errors(void)
{
    avatar_params_t p;
    const char *errors;

    CHECK(parse("w=15", &p, &errors) == -1);
    CHECK_STR_EQ(errors, "[{\"type\": \"greater_than_equal\", \"loc\": [\"query\", \"w\"], \"msg\": \"Input should be greater than "
                         "or equal to 16\", \"input\": \"15\", \"ctx\": {\"ge\": 16}}]");
    CHECK(parse("w=1025", &p, &errors) == -1);
    CHECK(strstr(errors, "\"less_than_equal\"") != NULL && strstr(errors, "{\"le\": 1024}") != NULL);
    CHECK(parse("w=12.5", &p, &errors) == -1);
    CHECK(strstr(errors, "\"int_parsing\"") != NULL && strstr(errors, "\"input\": \"12.5\"") != NULL);
    CHECK(parse("w=abc", &p, &errors) == -1 && strstr(errors, "\"int_parsing\"") != NULL);
    CHECK(parse("w=99999999999999999999999", &p, &errors) == -1 && strstr(errors, "\"less_than_equal\"") != NULL);
    CHECK(parse("dpr=0.99", &p, &errors) == -1);
    CHECK(strstr(errors, "{\"type\": \"greater_than_equal\", \"loc\": [\"query\", \"dpr\"]") != NULL);
    CHECK(parse("dpr=4.0001", &p, &errors) == -1 && strstr(errors, "{\"le\": 4}") != NULL);
    CHECK(parse("dpr=nan", &p, &errors) == -1 && strstr(errors, "\"float_parsing\"") != NULL);
    CHECK(parse("dpr=inf", &p, &errors) == -1 && strstr(errors, "\"float_parsing\"") != NULL);
    CHECK(parse("dpr=0x2", &p, &errors) == -1 && strstr(errors, "\"float_parsing\"") != NULL);
    CHECK(parse("dpr=1e", &p, &errors) == -1 && strstr(errors, "\"float_parsing\"") != NULL);
    CHECK(parse("q=0", &p, &errors) == -1 && strstr(errors, "{\"ge\": 1}") != NULL);
    CHECK(parse("q=101", &p, &errors) == -1 && strstr(errors, "{\"le\": 100}") != NULL);
    CHECK(parse("fmt=png", &p, &errors) == -1);
    CHECK_STR_EQ(errors, "[{\"type\": \"enum\", \"loc\": [\"query\", \"fmt\"], \"msg\": \"Input should be 'webp', 'jpeg' or "
                         "'auto'\", \"input\": \"png\", \"ctx\": {\"expected\": \"'webp', 'jpeg' or 'auto'\"}}]");
    CHECK(parse("fmt=WEBP", &p, &errors) == -1);
    /* every bad parameter is reported, in the table's order */
    CHECK(parse("fmt=gif&q=0&dpr=9&w=1", &p, &errors) == -1);
    {
        const char *w = strstr(errors, "\"w\"]"), *dpr = strstr(errors, "\"dpr\"]"), *q = strstr(errors, "\"q\"]"),
                   *fmt = strstr(errors, "\"fmt\"]");
        CHECK(w != NULL && dpr != NULL && q != NULL && fmt != NULL && w < dpr && dpr < q && q < fmt);
    }
    /* the input is echoed as valid JSON whatever it holds */
    CHECK(parse("w=%22%5C%0A%FF", &p, &errors) == -1 && strstr(errors, "\"input\": \"\\\"\\\\\\n\xef\xbf\xbd\"") != NULL);
}

static int webp(const char *accept)
{
    return avatar_accept_names_webp(accept, strlen(accept));
}

/* Values are judged whole: a value longer than any valid one is not cut to a valid prefix (issue 14, item 5). */
static void test_long_values(void)
{
    char query[1024], zeros[201];
    avatar_params_t p;
    const char *errors;

    memset(zeros, '0', 200);
    zeros[200] = '\0';
    snprintf(query, sizeof(query), "w=%.127s64garbage", zeros);
    CHECK(parse(query, &p, &errors) == -1);
    CHECK(strstr(errors, "\"int_parsing\"") != NULL && strstr(errors, "64garbage") != NULL);
    snprintf(query, sizeof(query), "q=%.127s64garbage", zeros);
    CHECK(parse(query, &p, &errors) == -1);
    CHECK(strstr(errors, "\"int_parsing\"") != NULL);
    snprintf(query, sizeof(query), "dpr=1.%.200sx", zeros);
    CHECK(parse(query, &p, &errors) == -1);
    CHECK(strstr(errors, "\"float_parsing\"") != NULL);
    snprintf(query, sizeof(query), "fmt=webp%.200s", zeros);
    CHECK(parse(query, &p, &errors) == -1);
    CHECK(strstr(errors, "\"enum\"") != NULL);
    /* as Python's int() and float() read them: leading zeros of any length are still the number */
    snprintf(query, sizeof(query), "w=%s64&q=%s7&dpr=1.%s5", zeros, zeros, zeros);
    CHECK(parse(query, &p, &errors) == 0);
    CHECK(p.width == 64 && p.quality == 7 && p.dpr == 1);
}

static void test_accept(void)
{
    CHECK(webp("image/webp"));
    CHECK(webp("image/avif,image/webp,*/*"));
    CHECK(webp("text/html, IMAGE/WEBP;q=0.5"));
    CHECK(webp("image/webp ; Q=1"));
    CHECK(webp("image/webp;q=0.001"));
    CHECK(webp("image/webp;q=1.000"));
    CHECK(webp("image/png, image/webp;charset=\"a,b\";q=0.8"));
    CHECK(!webp(""));
    CHECK(!webp("*/*"));
    CHECK(!webp("image/*"));
    CHECK(!webp("image/*,*/*;q=0.8"));
    CHECK(!webp("image/webp;q=0"));
    CHECK(!webp("image/webp;q=0.000"));
    CHECK(!webp("image/webp;q=2"));    /* malformed weight: the member does not count */
    CHECK(!webp("image/webp;q=0.5x")); /* likewise */
    CHECK(!webp("image/webpx"));
    CHECK(!webp("application/image/webp"));
    CHECK(!webp("text/plain;x=\"image/webp\""));
}

static void test_variant(void)
{
    avatar_variant_t a, b;

    avatar_variant_init(&a, 7, "0123456789abcdef", 16, 256, BOOKA_IMAGE_OUTPUT_WEBP, 90);
    CHECK_STR_EQ(a.key, "avatar:1:7:0123456789abcdef:256:webp:90");
    CHECK(a.key_len == strlen(a.key));
    CHECK(a.etag_len == 34 && a.etag[0] == '"' && a.etag[33] == '"');
    /* the tag changes with the picture and with every output parameter, and not with the provider */
    avatar_variant_init(&b, 8, "0123456789abcdef", 16, 256, BOOKA_IMAGE_OUTPUT_WEBP, 90);
    CHECK(strcmp(a.etag, b.etag) == 0 && strcmp(a.key, b.key) != 0);
    avatar_variant_init(&b, 7, "0123456789abcdee", 16, 256, BOOKA_IMAGE_OUTPUT_WEBP, 90);
    CHECK(strcmp(a.etag, b.etag) != 0);
    avatar_variant_init(&b, 7, "0123456789abcdef", 16, 255, BOOKA_IMAGE_OUTPUT_WEBP, 90);
    CHECK(strcmp(a.etag, b.etag) != 0);
    avatar_variant_init(&b, 7, "0123456789abcdef", 16, 256, BOOKA_IMAGE_OUTPUT_JPEG, 90);
    CHECK(strcmp(a.etag, b.etag) != 0);
    avatar_variant_init(&b, 7, "0123456789abcdef", 16, 256, BOOKA_IMAGE_OUTPUT_WEBP, 89);
    CHECK(strcmp(a.etag, b.etag) != 0);
    avatar_variant_init(&b, 7, "0123456789abcdef", 16, 256, BOOKA_IMAGE_OUTPUT_WEBP, 90);
    CHECK(strcmp(a.etag, b.etag) == 0 && strcmp(a.key, b.key) == 0);
    /* the very ETag of before (shared by every instance and in Redis): SHA-256 of "avatar/1|<token>|<side>|<fmt>|<q>" */
    CHECK_STR_EQ(a.etag, "\"6f7c64703cfc130405381dc9bff4dc51\"");
}

/* test_variant_bytes: the key and the ETag's material are the bytes printf formats, at the ends of every range. */
static void test_variant_bytes(void)
{
    static const struct {
        int64_t id;
        const char *token;
        uint32_t side;
        booka_image_output_format_t format;
        int quality;
    } cases[] = {
        {0, "a", 1, BOOKA_IMAGE_OUTPUT_JPEG, 1},
        {9, "0123456789abcdef", 10, BOOKA_IMAGE_OUTPUT_WEBP, 10},
        {INT64_MAX, "0123456789012345678901234567890123456789012345678901234567890123", UINT32_MAX, BOOKA_IMAGE_OUTPUT_JPEG, 100},
        {1000000, "x y:z|w", 2048, BOOKA_IMAGE_OUTPUT_WEBP, 85},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        avatar_variant_t v;
        char key[200], material[200], etag[BOOKA_ETAG_MAX];
        const char *fmt = cases[i].format == BOOKA_IMAGE_OUTPUT_WEBP ? "webp" : "jpeg";
        avatar_variant_init(&v, cases[i].id, cases[i].token, strlen(cases[i].token), cases[i].side, cases[i].format,
                            cases[i].quality);
        snprintf(key, sizeof(key), "avatar:1:%lld:%s:%u:%s:%d", (long long)cases[i].id, cases[i].token, cases[i].side, fmt,
                 cases[i].quality);
        CHECK_STR_EQ(v.key, key);
        CHECK_INT_EQ(v.key_len, strlen(key));
        int n = snprintf(material, sizeof(material), "avatar/1|%s|%u|%s|%d", cases[i].token, cases[i].side, fmt, cases[i].quality);
        booka_etag_of_body(material, (size_t)n, 0, etag);
        CHECK_STR_EQ(v.etag, etag);
    }
    /* the thread's memo of ETags: many variants, each asked twice, in an order that makes their slots collide */
    int wrong = 0;
    for (int round = 0; round != 2; ++round) {
        for (uint32_t side = 16; side != 416; ++side) {
            avatar_variant_t v;
            char material[200], etag[BOOKA_ETAG_MAX];
            avatar_variant_init(&v, 5, "0123456789abcdef", 16, side, BOOKA_IMAGE_OUTPUT_JPEG, 85);
            int n = snprintf(material, sizeof(material), "avatar/1|0123456789abcdef|%u|jpeg|85", side);
            booka_etag_of_body(material, (size_t)n, 0, etag);
            wrong += strcmp(v.etag, etag) != 0 || v.etag_len != strlen(etag);
        }
    }
    CHECK_INT_EQ(wrong, 0);
}

int main(void)
{
    test_id();
    test_defaults_and_values();
    test_errors();
    test_long_values();
    test_accept();
    test_variant();
    test_variant_bytes();
    return unit_report("avatar_request");
}
