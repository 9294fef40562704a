/* response_test.c: plugin/avatar/response.c: the end of an upstream's response head found across reads, the head's status
 * and body framing, and the chunked transfer coding decoded in place whatever the reads' boundaries. */
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "avatar/internal.h"

/* head_end_in_pieces: avatar_response_head_end fed `text` `step` bytes more at a time, as reads would. */
static size_t head_end_in_pieces(const char *text, size_t step)
{
    size_t len = strlen(text), scanned = 0, end = 0;

    for (size_t have = step < len ? step : len;; have = have + step < len ? have + step : len) {
        if ((end = avatar_response_head_end(text, have, &scanned)) != 0 || have == len)
            return end;
    }
}

static void test_head_end(void)
{
    static const char crlf[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", lf[] = "HTTP/1.1 200 OK\nA: b\n\nxyz";

    for (size_t step = 1; step != sizeof(crlf); ++step) {
        CHECK_INT_EQ(head_end_in_pieces(crlf, step), sizeof(crlf) - 1 - 3);
        CHECK_INT_EQ(head_end_in_pieces(lf, step), sizeof(lf) - 1 - 3);
    }
    CHECK_INT_EQ(head_end_in_pieces("HTTP/1.1 200 OK\r\nA: b\r\n", 1), 0);
    CHECK_INT_EQ(head_end_in_pieces("HTTP/1.1 200 OK\r\nA: b\r\n\r", 1), 0);
    CHECK_INT_EQ(head_end_in_pieces("HTTP/1.1 200 OK\r\nA: \rb\r\n\r\n", 3), 26);
}

static int parse(const char *text, avatar_response_head_t *head)
{
    return avatar_response_head_parse(text, strlen(text), head);
}

static void test_head_parse(void)
{
    avatar_response_head_t h;

    CHECK_INT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 42\r\nContent-Type: image/jpeg\r\n\r\n", &h), 0);
    CHECK_INT_EQ(h.status, 200);
    CHECK_INT_EQ(h.framing, AVATAR_BODY_LENGTH);
    CHECK_INT_EQ(h.content_length, 42);
    CHECK_INT_EQ(parse("HTTP/1.0 404\n\n", &h), 0);
    CHECK_INT_EQ(h.status, 404);
    CHECK_INT_EQ(h.framing, AVATAR_BODY_UNTIL_CLOSE);
    CHECK_INT_EQ(parse("HTTP/1.1 200 OK\r\ntransfer-encoding:  Chunked \r\ncontent-length: 5\r\n\r\n", &h), 0);
    CHECK_INT_EQ(h.framing, AVATAR_BODY_CHUNKED); /* Transfer-Encoding wins */
    CHECK_INT_EQ(parse("HTTP/1.1 100 Continue\r\n\r\n", &h), 0);
    CHECK_INT_EQ(h.status, 100);
    CHECK_INT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", &h), 0);
    CHECK_INT_EQ(h.content_length, 7);
    CHECK_INT_EQ(parse("HTTP/1.1 200 OK\r\nX-Empty:\r\n\r\n", &h), 0);

    static const char *const malformed[] = {
        "",
        "\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: no name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\nextra",
        "HTTP/1.1 200 OK\r\n",
    };
    for (size_t i = 0; i != sizeof(malformed) / sizeof(malformed[0]); ++i) {
        if (parse(malformed[i], &h) != -1)
            fprintf(stderr, "accepted: %s\n", malformed[i]);
        CHECK(parse(malformed[i], &h) == -1);
    }
}

/* decode_in_pieces: the chunked body `text` decoded `step` bytes at a time; returns the decoder's last answer, the
 * decoded data in `out`. */
static int decode_in_pieces(const char *text, size_t step, char *out, size_t *out_len)
{
    avatar_chunked_t d = {0};
    size_t len = strlen(text);
    int rc = 0;

    *out_len = 0;
    for (size_t at = 0; at < len && rc == 0; at += step) {
        char piece[64];
        size_t n = len - at < step ? len - at : step;
        memcpy(piece, text + at, n);
        if ((rc = avatar_chunked_decode(&d, piece, &n)) >= 0) {
            memcpy(out + *out_len, piece, n);
            *out_len += n;
        }
    }
    return rc;
}

static void test_chunked(void)
{
    static const char body[] = "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nGARBAGE";
    char out[64];
    size_t n;

    for (size_t step = 1; step != 40; ++step) {
        CHECK_INT_EQ(decode_in_pieces(body, step, out, &n), 1);
        CHECK(n == 16 && memcmp(out, "hello 0123456789", 16) == 0);
    }
    CHECK_INT_EQ(decode_in_pieces("3\nabc\n0\n\n", 2, out, &n), 1); /* bare LF line ends */
    CHECK(n == 3 && memcmp(out, "abc", 3) == 0);
    CHECK_INT_EQ(decode_in_pieces("3\r\nabc\r\n", 1, out, &n), 0); /* no last chunk yet */
    CHECK_INT_EQ(decode_in_pieces("3\r\nabc\r\n0\r\n", 4, out, &n), 0);

    static const char *const malformed[] = {"\r\nabc", "g\r\n", "3\r\nabcX\r\n", "3\r\nabc\rX", "0\r\n\rX", "11111111111111111\r\n",
                                            "-1\r\n"};
    for (size_t i = 0; i != sizeof(malformed) / sizeof(malformed[0]); ++i)
        CHECK_INT_EQ(decode_in_pieces(malformed[i], 1, out, &n), -1);
}

int main(void)
{
    test_head_end();
    test_head_parse();
    test_chunked();
    return unit_report("response");
}
