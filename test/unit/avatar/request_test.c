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

/* side_of: avatar_params_side for a query under conf; the side, or 0 with the 422 detail in *errors_out. */
static uint32_t side_of(const char *query, const avatar_config_t *conf, const char **errors_out)
{
    static char saved[1024];
    avatar_params_t p;
    booka_buf_t errors = {NULL};
    uint32_t side = 0;

    if (avatar_params_parse(&p, query, strlen(query), &errors) == 0 && avatar_params_side(&p, conf, &errors) == 0)
        side = p.side;
    snprintf(saved, sizeof(saved), "%.*s", (int)errors.len, errors.base != NULL ? errors.base : "");
    booka_buf_free(&errors);
    *errors_out = saved;
    return side;
}

static void test_allowed_sides(void)
{
    avatar_config_t conf = {.limits = booka_image_default_limits, .allowed_sides = {64, 128, 256, 512}, .num_allowed_sides = 4};
    avatar_config_t any = {.limits = booka_image_default_limits};
    const char *errors;

    /* without allowed-sides: floor(w * dpr + 0.5), capped by max-side */
    CHECK_INT_EQ(side_of("w=30&dpr=1.15", &any, &errors), 35);
    CHECK_INT_EQ(side_of("w=1024&dpr=4", &any, &errors), 2048);
    any.limits.max_output_side = 300;
    CHECK_INT_EQ(side_of("w=1000", &any, &errors), 300);

    /* reject: an allowed side passes, whatever w and dpr make it; any other is the enum 422 at w */
    CHECK_INT_EQ(side_of("w=256&dpr=2", &conf, &errors), 512);
    CHECK_INT_EQ(side_of("w=128&dpr=2", &conf, &errors), 256);
    CHECK_INT_EQ(side_of("w=64", &conf, &errors), 64);
    CHECK_INT_EQ(side_of("w=300", &conf, &errors), 0);
    CHECK_STR_EQ(errors, "[{\"type\": \"enum\", \"loc\": [\"query\", \"w\"], \"msg\": \"Input should make a side (w*dpr, rounded) "
                         "of 64, 128, 256 or 512; it makes 300\", \"input\": \"300\", \"ctx\": {\"expected\": \"64, 128, 256 or "
                         "512\"}}]");
    CHECK_INT_EQ(side_of("w=100&dpr=1.28", &conf, &errors), 128);
    CHECK_INT_EQ(side_of("w=100&dpr=1.27", &conf, &errors), 0);
    /* a parameter error comes alone, as before */
    CHECK_INT_EQ(side_of("w=10", &conf, &errors), 0);
    CHECK(strstr(errors, "greater_than_equal") != NULL && strstr(errors, "enum") == NULL);

    /* snap: the nearest allowed side, a tie to the larger; beyond either end, the end */
    conf.snap_sides = 1;
    CHECK_INT_EQ(side_of("w=300", &conf, &errors), 256);
    CHECK_INT_EQ(side_of("w=192", &conf, &errors), 256); /* 64 from 128 and from 256 */
    CHECK_INT_EQ(side_of("w=191", &conf, &errors), 128);
    CHECK_INT_EQ(side_of("w=16", &conf, &errors), 64);
    CHECK_INT_EQ(side_of("w=1024&dpr=4", &conf, &errors), 512);
    CHECK_INT_EQ(side_of("w=400", &conf, &errors), 512); /* 400 is 112 from 512, 144 from 256 */
    CHECK_STR_EQ(errors, "");
}

/* A test key: bytes 0..31. Its signatures below were computed with Python's hmac module. */
static const uint8_t test_key[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                     16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static void test_signing_text_and_signature(void)
{
    booka_avatar_signer_t *signer = booka_avatar_signer_new(test_key, sizeof(test_key));
    h2o_iovec_t values[BOOKA_AVATAR_SIGNED_NUM] = {{NULL}};
    booka_buf_t text = {NULL};
    char sig[BOOKA_AVATAR_SIG_LEN + 1];

    CHECK(signer != NULL);
    CHECK_STR_EQ(booka_avatar_signer_id(signer), "630dcd2966c43366"); /* sha256(key)[0..8] */
    values[BOOKA_AVATAR_SIGNED_W] = h2o_iovec_init(H2O_STRLIT("256"));
    values[BOOKA_AVATAR_SIGNED_DPR] = h2o_iovec_init(H2O_STRLIT("2"));
    values[BOOKA_AVATAR_SIGNED_Q] = h2o_iovec_init(H2O_STRLIT("90"));
    values[BOOKA_AVATAR_SIGNED_V] = h2o_iovec_init(H2O_STRLIT("0123456789abcdef"));
    booka_avatar_signing_text(&text, h2o_iovec_init(H2O_STRLIT("/api/v1/img/avatar")), h2o_iovec_init(H2O_STRLIT("7")), values);
    CHECK(text.len == strlen("/api/v1/img/avatar/7?dpr=2&q=90&v=0123456789abcdef&w=256") &&
          memcmp(text.base, "/api/v1/img/avatar/7?dpr=2&q=90&v=0123456789abcdef&w=256", text.len) == 0);
    CHECK(booka_avatar_sign(signer, text.base, text.len, sig) == 0);
    CHECK_STR_EQ(sig, "2_yqeiQec0CjgZMnCcBcqcOU7ingkb2IEoIovPt88bs");
    CHECK(booka_avatar_sign(signer, "/api/v1/img/avatar/7?", 21, sig) == 0);
    CHECK_STR_EQ(sig, "o44DfiA1Z1zmmSXTliwxR2klDft4gfrQXMSXWtMjLZc");

    /* values are encoded again: unreserved characters as they are, every other byte %XX */
    text.len = 0;
    memset(values, 0, sizeof(values));
    values[BOOKA_AVATAR_SIGNED_V] = h2o_iovec_init(H2O_STRLIT("a b+%/~._-\xc3\xa9"));
    values[BOOKA_AVATAR_SIGNED_FMT] = h2o_iovec_init(H2O_STRLIT("webp"));
    booka_avatar_signing_text(&text, h2o_iovec_init(H2O_STRLIT("/x")), h2o_iovec_init(H2O_STRLIT("1")), values);
    CHECK(text.len == strlen("/x/1?fmt=webp&v=a%20b%2B%25%2F~._-%C3%A9") &&
          memcmp(text.base, "/x/1?fmt=webp&v=a%20b%2B%25%2F~._-%C3%A9", text.len) == 0);
    booka_buf_free(&text);
    booka_avatar_signer_free(signer);
}

/* signed: the query `query` with "&sig=" and the signature of `text` under `key` appended, in static storage. */
static const char *with_sig(const char *query, const char *text, const booka_avatar_signer_t *signer)
{
    static char out[512];
    char sig[BOOKA_AVATAR_SIG_LEN + 1];

    if (booka_avatar_sign(signer, text, strlen(text), sig) != 0)
        sig[0] = '\0';
    snprintf(out, sizeof(out), "%s&sig=%s", query, sig);
    return out;
}

static avatar_signature_t check_query(const avatar_config_t *conf, int64_t id, const char *query)
{
    return avatar_signature_check(conf, id, query, strlen(query));
}

static void test_signature_check(void)
{
    static const uint8_t other_key[32] = {42};
    booka_avatar_signer_t *current = booka_avatar_signer_new(test_key, sizeof(test_key)),
                          *old = booka_avatar_signer_new(other_key, sizeof(other_key));
    avatar_config_t conf = {.signers = {current}, .signing_path = "/api/v1/img/avatar"}, unsigned_conf = {.signing_path = "/a"};
    const char *text = "/api/v1/img/avatar/7?dpr=2&q=90&v=0123456789abcdef&w=256";
    char query[512];

    /* without a key, anything goes */
    CHECK(check_query(&unsigned_conf, 7, "w=64") == AVATAR_SIGNATURE_OK);

    CHECK(check_query(&conf, 7, with_sig("w=256&dpr=2&q=90&v=0123456789abcdef", text, current)) == AVATAR_SIGNATURE_OK);
    /* the order, the spelling of a value's bytes, other parameters and empty ones do not matter */
    CHECK(check_query(&conf, 7, with_sig("v=0123456789abcdef&q=90&dpr=2&w=256", text, current)) == AVATAR_SIGNATURE_OK);
    CHECK(check_query(&conf, 7, with_sig("w=%32%35%36&dpr=2&q=90&v=0123456789abcdef&utm=x&fmt=", text, current)) ==
          AVATAR_SIGNATURE_OK);
    CHECK(check_query(&conf, 7, with_sig("w=64&w=256&dpr=2&q=90&v=0123456789abcdef", text, current)) == AVATAR_SIGNATURE_OK);
    /* the signature's own spelling: %-encoded bytes of it are decoded first */
    snprintf(query, sizeof(query), "%s", with_sig("w=256&dpr=2&q=90&v=0123456789abcdef", text, current));
    CHECK(query[strlen(query) - 1] == 's'); /* the known signature's last character */
    query[strlen(query) - 1] = '\0';
    strcat(query, "%73"); /* 's' */
    CHECK(check_query(&conf, 7, query) == AVATAR_SIGNATURE_OK);

    /* missing or empty: MISSING; anything changed: WRONG */
    CHECK(check_query(&conf, 7, "w=256&dpr=2&q=90&v=0123456789abcdef") == AVATAR_SIGNATURE_MISSING);
    CHECK(check_query(&conf, 7, "w=256&sig=") == AVATAR_SIGNATURE_MISSING);
    CHECK(check_query(&conf, 7, "") == AVATAR_SIGNATURE_MISSING);
    CHECK(check_query(&conf, 8, with_sig("w=256&dpr=2&q=90&v=0123456789abcdef", text, current)) == AVATAR_SIGNATURE_WRONG);
    CHECK(check_query(&conf, 7, with_sig("w=1024&dpr=2&q=90&v=0123456789abcdef", text, current)) == AVATAR_SIGNATURE_WRONG);
    CHECK(check_query(&conf, 7, with_sig("w=256&dpr=2&q=90&v=0123456789abcdef&w=1024", text, current)) == AVATAR_SIGNATURE_WRONG);
    CHECK(check_query(&conf, 7, with_sig("w=256&dpr=2&q=90&v=0123456789abcdef&fmt=webp", text, current)) == AVATAR_SIGNATURE_WRONG);
    CHECK(check_query(&conf, 7, with_sig("w=256&dpr=2&q=90", text, current)) == AVATAR_SIGNATURE_WRONG);
    CHECK(check_query(&conf, 7, with_sig("w=256&dpr=2&q=90&v=0123456789abcdef", text, old)) == AVATAR_SIGNATURE_WRONG);
    CHECK(check_query(&conf, 7, "w=256&dpr=2&q=90&v=0123456789abcdef&sig=2_yqeiQec0CjgZMnCcBcqcOU7ingkb2IEoIovPt88b") ==
          AVATAR_SIGNATURE_WRONG); /* 42 characters */
    CHECK(check_query(&conf, 7, "w=256&dpr=2&q=90&v=0123456789abcdef&sig=2_yqeiQec0CjgZMnCcBcqcOU7ingkb2IEoIovPt88bt") ==
          AVATAR_SIGNATURE_WRONG); /* its last character changed */
    CHECK(check_query(&conf, 7, "w=256&dpr=2&q=90&v=0123456789abcdef&sig=2_yqeiQec0CjgZMnCcBcqcOU7ingkb2IEoIovPt88bs") ==
          AVATAR_SIGNATURE_OK);
    /* another mount path is another signing text */
    conf.signing_path = "/img/avatar";
    CHECK(check_query(&conf, 7, with_sig("w=256&dpr=2&q=90&v=0123456789abcdef", text, current)) == AVATAR_SIGNATURE_WRONG);
    conf.signing_path = "/api/v1/img/avatar";

    /* a previous key is accepted beside the current one */
    conf.signers[1] = old;
    CHECK(check_query(&conf, 7, with_sig("w=256&dpr=2&q=90&v=0123456789abcdef", text, old)) == AVATAR_SIGNATURE_OK);
    CHECK(check_query(&conf, 7, with_sig("w=256&dpr=2&q=90&v=0123456789abcdef", text, current)) == AVATAR_SIGNATURE_OK);
    booka_avatar_signer_free(current);
    booka_avatar_signer_free(old);
}

/* test_list_urls_verify: the URL the list endpoint writes for an item carries a signature the avatar endpoint mounted at
 * the linked path accepts, and once anything in it changes, does not. */
static void test_list_urls_verify(void)
{
    booka_avatar_signer_t *signer = booka_avatar_signer_new(test_key, sizeof(test_key));
    avatar_config_t conf = {.signers = {signer}, .signing_path = BOOKA_AVATAR_URL_PATH};
    booka_buf_t json = {NULL};
    char url[512], *query;

    booka_avatar_url_json(&json, "7", 1, "0123456789abcdef", 16); /* unsigned while no signer is set */
    CHECK(json.len != 0 && memmem(json.base, json.len, "sig=", 4) == NULL);
    CHECK_INT_EQ(booka_avatar_url_set_signer(signer), 0);
    json.len = 0;
    booka_avatar_url_json(&json, "7", 1, "0123456789abcdef", 16);
    snprintf(url, sizeof(url), "%.*s", (int)json.len - 2, json.base + 1); /* without the quotes */
    CHECK_STR_EQ(url, "/api/v1/img/avatar/7?w=256&dpr=2&q=90&v=0123456789abcdef&sig=2_yqeiQec0CjgZMnCcBcqcOU7ingkb2IEoIovPt88bs");
    query = strchr(url, '?') + 1;
    CHECK(check_query(&conf, 7, query) == AVATAR_SIGNATURE_OK);
    query[2] = '1'; /* w=156 */
    CHECK(check_query(&conf, 7, query) == AVATAR_SIGNATURE_WRONG);
    /* one key per linked path */
    {
        static const uint8_t other_key[32] = {1};
        booka_avatar_signer_t *other = booka_avatar_signer_new(other_key, sizeof(other_key));
        CHECK_INT_EQ(booka_avatar_url_set_signer(other), -1);
        CHECK_INT_EQ(booka_avatar_url_set_signer(signer), 0);
        booka_avatar_signer_free(other);
    }
    booka_buf_free(&json);
}

int main(void)
{
    test_id();
    test_defaults_and_values();
    test_errors();
    test_long_values();
    test_accept();
    test_variant();
    test_allowed_sides();
    test_signing_text_and_signature();
    test_signature_check();
    test_list_urls_verify();
    test_variant_bytes();
    return unit_report("avatar_request");
}
