/* json_test.c: the JSON writer escapes every character that must be escaped and never emits invalid UTF-8. */
#include <stdlib.h>
#include "unit.h"
#include "http/json.h"

static const char *escaped(const char *s, size_t len)
{
    static booka_buf_t b;
    booka_buf_free(&b);
    booka_json_string(&b, s, len);
    booka_buf_append(&b, "", 1);
    return b.base;
}

int main(void)
{
    CHECK_STR_EQ(escaped("plain", 5), "\"plain\"");
    CHECK_STR_EQ(escaped("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    CHECK_STR_EQ(escaped("\b\t\n\f\r", 5), "\"\\b\\t\\n\\f\\r\"");
    CHECK_STR_EQ(escaped("\x01\x0b\x1f", 3), "\"\\u0001\\u000b\\u001f\"");
    CHECK_STR_EQ(escaped("nul\0x", 5), "\"nul\\u0000x\"");
    CHECK_STR_EQ(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xb5", 14), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xb5\"");
    /* invalid UTF-8: lone continuation, overlong, surrogate, truncated, above U+10FFFF */
    CHECK_STR_EQ(escaped("\x80", 1), "\"\xef\xbf\xbd\"");
    CHECK_STR_EQ(escaped("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_STR_EQ(escaped("\xed\xa0\x80", 3), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_STR_EQ(escaped("\xe2\x82", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_STR_EQ(escaped("\xf4\x90\x80\x80", 4), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_STR_EQ(escaped("</script>", 9), "\"</script>\"");

    booka_buf_t b = {NULL};
    booka_json_int(&b, -9223372036854775807LL - 1);
    booka_buf_append_str(&b, ",");
    booka_json_int(&b, 42);
    booka_buf_appendf(&b, ",%s", "x");
    booka_buf_append_str(&b, ",");
    booka_json_int(&b, 0);
    booka_buf_append_str(&b, ",");
    booka_buf_append_uint(&b, 18446744073709551615ULL);
    booka_buf_append_str(&b, ",");
    booka_buf_append_hex(&b, 0xabcdef0123456789ULL, 16);
    booka_buf_append_str(&b, ",");
    booka_buf_append_hex(&b, 0x1f, 4);
    booka_buf_append_str(&b, ",");
    booka_buf_append_hex(&b, 0x12345, 2);
    booka_buf_append(&b, "", 1);
    CHECK_STR_EQ(b.base, "-9223372036854775808,42,x,0,18446744073709551615,abcdef0123456789,001f,45");
    size_t len = b.len;
    for (int i = 0; i != 10000; ++i)
        booka_buf_append_str(&b, "0123456789");
    CHECK(b.len == len + 100000 && !b.oom);
    booka_buf_free(&b);
    escaped("", 0);
    return unit_report("json");
}
