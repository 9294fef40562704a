/* data_url_test.c: tests plugin/image/data_url.c: data URL syntax, forgiving base64, the size limit, a real image. */
#include "unit.h"
#include "fixtures.h"

/* decode: booka_image_decode_data_url() on a C string; the decoded bytes (NUL-terminated copy) in a static buffer. */
static booka_image_error_t decode(const char *url, size_t max_bytes, const char **text, size_t *len)
{
    static char copy[256];
    uint8_t *out;
    booka_image_error_t err = booka_image_decode_data_url(url, strlen(url), &out, len, max_bytes);
    if (err != BOOKA_IMAGE_OK) {
        CHECK(out == NULL && *len == 0);
        *text = NULL;
        return err;
    }
    memcpy(copy, out, *len < sizeof(copy) - 1 ? *len : sizeof(copy) - 1);
    copy[*len < sizeof(copy) - 1 ? *len : sizeof(copy) - 1] = '\0';
    free(out);
    *text = copy;
    return err;
}

/* check_decodes, check_rejects: one URL's outcome. */
static void check_decodes(const char *url, const char *want)
{
    const char *text;
    size_t len;
    CHECK_INT_EQ(decode(url, 1000, &text, &len), BOOKA_IMAGE_OK);
    CHECK_STR_EQ(text, want);
    CHECK_INT_EQ(len, strlen(want));
}

static void check_rejects(const char *url, booka_image_error_t want)
{
    const char *text;
    size_t len;
    CHECK_INT_EQ(decode(url, 1000, &text, &len), want);
}

static void test_syntax(void)
{
    check_decodes("data:image/png;base64,TWFu", "Man");
    check_decodes("DATA:IMAGE/JPEG;BASE64,TWFu", "Man");
    check_decodes("data:image/webp;name=a.webp;charset=x;base64,TWFu", "Man");
    check_decodes("data:image/png;base64,", "");
    check_rejects("data:text/plain;base64,TWFu", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("data:image/;base64,TWFu", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("data:image/png,TWFu", BOOKA_IMAGE_ERROR_BAD_DATA_URL); /* percent-encoded, not base64 */
    check_rejects("data:image/png;base64TWFu", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("data:image/png;base64;x,TWFu", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("http://example.com/a.png", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("data:", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
}

static void test_base64(void)
{
    check_decodes("data:image/png;base64,TWE=", "Ma");
    check_decodes("data:image/png;base64,TQ==", "M");
    check_decodes("data:image/png;base64,TWE", "Ma"); /* padding may be omitted */
    check_decodes("data:image/png;base64,TQ", "M");
    check_decodes("data:image/png;base64,TW\r\nFu TW\tE=\n", "ManMa"); /* whitespace anywhere */
    check_decodes("data:image/png;base64,TWFu\n", "Man");
    check_decodes("data:image/png;base64,T W E =", "Ma");
    check_decodes("data:image/png;base64,/+/+", "\xff\xef\xfe");
    check_rejects("data:image/png;base64,TWFu-junk", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("data:image/png;base64,TW*u", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("data:image/png;base64,TW_u", BOOKA_IMAGE_ERROR_BAD_DATA_URL); /* URL-safe alphabet is not base64 here */
    check_rejects("data:image/png;base64,TW%2Bu", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("data:image/png;base64,T", BOOKA_IMAGE_ERROR_BAD_DATA_URL);     /* a lone sixth of a byte */
    check_rejects("data:image/png;base64,TWFuT", BOOKA_IMAGE_ERROR_BAD_DATA_URL); /* length 5: remainder 1 */
    check_rejects("data:image/png;base64,TW=u", BOOKA_IMAGE_ERROR_BAD_DATA_URL);  /* padding in the middle */
    check_rejects("data:image/png;base64,TQ===", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("data:image/png;base64,TWE==", BOOKA_IMAGE_ERROR_BAD_DATA_URL); /* padding past a multiple of 4 */
    check_rejects("data:image/png;base64,TQ=", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
    check_rejects("data:image/png;base64,TWFu\x01", BOOKA_IMAGE_ERROR_BAD_DATA_URL);
}

/* encode_base64: the test's own encoder (with padding), to round-trip arbitrary bytes. */
static void encode_base64(const uint8_t *in, size_t len, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *out++ = i + 2 < len ? alphabet[v & 63] : '=';
    }
    *out = '\0';
}

static void test_round_trip_and_limit(void)
{
    uint8_t bytes[200];
    char url[400];
    srand(5);
    for (size_t len = 0; len <= sizeof(bytes); len += 1 + len / 7) {
        for (size_t i = 0; i < len; ++i)
            bytes[i] = (uint8_t)rand();
        strcpy(url, "data:image/png;base64,");
        encode_base64(bytes, len, url + strlen(url));
        uint8_t *out;
        size_t out_len;
        CHECK_INT_EQ(booka_image_decode_data_url(url, strlen(url), &out, &out_len, len), BOOKA_IMAGE_OK);
        CHECK(out_len == len && memcmp(out, bytes, len) == 0);
        free(out);
        if (len > 0) {
            CHECK_INT_EQ(booka_image_decode_data_url(url, strlen(url), &out, &out_len, len - 1), BOOKA_IMAGE_ERROR_TOO_MANY_BYTES);
            CHECK(out == NULL);
        }
    }
}

/* A PNG delivered as a data URL with line breaks every 76 characters (MIME style) thumbnails like the file. */
static void test_real_image(void)
{
    size_t png_len = 0;
    if (!fixture_sh("convert -size 40x30 gradient:red-blue PNG24:avatar.png"))
        return;
    uint8_t *png = fixture_read("avatar.png", &png_len);
    char *encoded = malloc(png_len * 2 + 8), *url = malloc(png_len * 2 + 64);
    encode_base64(png, png_len, encoded);
    size_t n = (size_t)sprintf(url, "data:image/png;base64,");
    for (size_t i = 0; encoded[i] != '\0'; ++i) {
        url[n++] = encoded[i];
        if (i % 76 == 75)
            url[n++] = '\n';
    }
    uint8_t *bytes;
    size_t len;
    CHECK_INT_EQ(booka_image_decode_data_url(url, n, &bytes, &len, 1 << 20), BOOKA_IMAGE_OK);
    CHECK(len == png_len && memcmp(bytes, png, len) == 0);
    booka_image_params_t params = {30, BOOKA_IMAGE_OUTPUT_JPEG, 85, NULL, 0};
    booka_image_result_t result;
    CHECK_INT_EQ(booka_image_thumbnail(bytes, len, &params, &result), BOOKA_IMAGE_OK);
    CHECK_STR_EQ(result.mime_type, "image/jpeg");
    booka_image_result_dispose(&result);
    free(bytes);
    free(png);
    free(encoded);
    free(url);
}

int main(void)
{
    test_syntax();
    test_base64();
    test_round_trip_and_limit();
    test_real_image();
    return unit_report("image_data_url");
}
