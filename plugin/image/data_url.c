/* data_url.c: decodes `data:image/...;base64,` URLs (legacy avatar uploads) into bytes, with a size limit.
 *
 * The base64 decoder is our own: OpenSSL 3.0's EVP_DecodeBlock() rejects embedded whitespace and missing padding and
 * counts '=' padding as decoded zero bytes, and EVP_DecodeUpdate()/EVP_DecodeFinal() accept whitespace but reject missing
 * padding and silently stop at a '-' (so "TWFu-junk" decodes as "Man"); both checked against libcrypto 3.0. We follow
 * WHATWG's forgiving-base64 decode, which is what browsers apply to these URLs. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

/* base64_value: the 6-bit value of an alphabet character, -1 for anything else. */
static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* is_ascii_whitespace: WHATWG's ASCII whitespace: tab, LF, FF, CR, space. */
static int is_ascii_whitespace(unsigned char c)
{
    return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

/* count_base64_digits: counts alphabet characters, skipping whitespace, and checks forgiving-base64's rules: at most two
 * '=' and only at the very end (whitespace aside), padding only when digits + padding is a multiple of 4, and never a
 * remainder of 1. Returns the number of digits or -1 when the payload is not base64. */
static long count_base64_digits(const char *payload, size_t len)
{
    size_t digits = 0, padding = 0;
    for (size_t i = 0; i < len; ++i) {
        unsigned char c = (unsigned char)payload[i];
        if (is_ascii_whitespace(c))
            continue;
        if (c == '=') {
            if (++padding > 2)
                return -1;
        } else if (padding != 0 || base64_value(c) < 0) {
            return -1;
        } else {
            ++digits;
        }
    }
    if ((padding != 0 && (digits + padding) % 4 != 0) || digits % 4 == 1)
        return -1;
    return (long)digits;
}

/* decode_base64_digits: writes the bytes of a payload already validated by count_base64_digits(). */
static void decode_base64_digits(const char *payload, size_t len, uint8_t *out)
{
    uint32_t bits = 0;
    int pending = 0;
    for (size_t i = 0; i < len; ++i) {
        int value = base64_value((unsigned char)payload[i]);
        if (value < 0)
            continue;
        bits = bits << 6 | (uint32_t)value;
        if ((pending += 6) >= 8) {
            pending -= 8;
            *out++ = (uint8_t)(bits >> pending);
        }
    }
}

/* media_type_is_base64_image: the part between "data:" and ',' must be `image/<subtype>`, optional `;parameters`, and end
 * with `;base64`, all ASCII case-insensitive. */
static int media_type_is_base64_image(const char *header, size_t len)
{
    static const char suffix[] = ";base64";
    size_t suffix_len = sizeof(suffix) - 1;
    if (len < 6 + suffix_len || strncasecmp(header, "image/", 6) != 0 ||
        strncasecmp(header + len - suffix_len, suffix, suffix_len) != 0)
        return 0;
    return header[6] != ';' && header[6] != ' '; /* a subtype is present */
}

booka_image_error_t booka_image_decode_data_url(const char *url, size_t len, uint8_t **out, size_t *out_len, size_t max_bytes)
{
    *out = NULL;
    *out_len = 0;
    if (len < 5 || strncasecmp(url, "data:", 5) != 0)
        return BOOKA_IMAGE_ERROR_BAD_DATA_URL;
    const char *comma = memchr(url + 5, ',', len - 5);
    if (comma == NULL || !media_type_is_base64_image(url + 5, (size_t)(comma - url - 5)))
        return BOOKA_IMAGE_ERROR_BAD_DATA_URL;

    const char *payload = comma + 1;
    size_t payload_len = len - (size_t)(payload - url);
    long digits = count_base64_digits(payload, payload_len);
    if (digits < 0)
        return BOOKA_IMAGE_ERROR_BAD_DATA_URL;
    size_t decoded = (size_t)digits / 4 * 3 + ((size_t)digits % 4 == 0 ? 0 : (size_t)digits % 4 - 1);
    if (decoded > max_bytes)
        return BOOKA_IMAGE_ERROR_TOO_MANY_BYTES;
    if ((*out = malloc(decoded ? decoded : 1)) == NULL)
        return BOOKA_IMAGE_ERROR_NO_MEMORY;
    decode_base64_digits(payload, payload_len, *out);
    *out_len = decoded;
    return BOOKA_IMAGE_OK;
}
