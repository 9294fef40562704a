/* response.c: the HTTP/1.1 response reader of the upstream fetch (RFC 9112): where the head ends, what it says (status and
 * how the body is framed), and the chunked transfer coding decoded in place.
 *
 * Why not libh2o's client: libh2o 2.2.5's http1client grows the socket's input without any cap until the head is
 * complete and parses the whole buffer again after every read, so an upstream sending an endless header line held
 * hundreds of MB (past 32 MB in a /tmp file) and stalled the loop for seconds. Here the end of the head is searched
 * incrementally, the head is parsed once, and fetch.c refuses a head over AVATAR_RESPONSE_HEAD_MAX. */
#include <string.h>
#include <strings.h>
#include "avatar/internal.h"

size_t avatar_response_head_end(const char *buf, size_t len, size_t *scanned)
{
    size_t i = *scanned;

    for (; i < len; ++i) {
        if (buf[i] != '\n')
            continue;
        /* a line ends here: the head ends when the line was empty ("\n" or "\r\n" right after the previous line) */
        if (i >= 1 && buf[i - 1] == '\n')
            return i + 1;
        if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')
            return i + 1;
    }
    *scanned = len; /* the next call looks back at these bytes, but searches only new ones */
    return 0;
}

/* is_tchar: a token character (RFC 9110 5.6.2), what a field name is made of. */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* next_line: the line starting at *pos < len (without its CR LF or LF), *pos moved past it. The head ends with a line
 * feed, so there is one. */
static h2o_iovec_t next_line(const char *head, size_t len, size_t *pos)
{
    const char *start = head + *pos, *lf = memchr(start, '\n', len - *pos);
    size_t n = (size_t)(lf - start);

    *pos += n + 1;
    if (n != 0 && start[n - 1] == '\r')
        --n;
    return h2o_iovec_init(start, n);
}

/* parse_status_line: "HTTP/1.x SSS[ reason]"; returns the status, or -1. */
static int parse_status_line(h2o_iovec_t line)
{
    const char *p = line.base;

    if (line.len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ')
        return -1;
    for (size_t i = 9; i != 12; ++i)
        if (p[i] < '0' || p[i] > '9')
            return -1;
    if (line.len > 12 && p[12] != ' ')
        return -1;
    return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

/* trim: the value without leading and trailing spaces and tabs (OWS). */
static h2o_iovec_t trim(const char *p, size_t n)
{
    while (n != 0 && (*p == ' ' || *p == '\t'))
        ++p, --n;
    while (n != 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        --n;
    return h2o_iovec_init(p, n);
}

/* parse_content_length: 1*DIGIT without overflow; -1 otherwise (lists such as "5, 5" included). */
static int parse_content_length(h2o_iovec_t v, uint64_t *out)
{
    uint64_t n = 0;

    if (v.len == 0)
        return -1;
    for (size_t i = 0; i != v.len; ++i) {
        if (v.base[i] < '0' || v.base[i] > '9' || n > (UINT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (uint64_t)(v.base[i] - '0');
    }
    *out = n;
    return 0;
}

/* copy_validator: an ETag or Last-Modified value into `dst` (AVATAR_VALIDATOR_MAX + 1 bytes) when it is printable ASCII
 * that fits; else `dst` stays empty (the source is then refetched whole, never revalidated with a value cut short or one
 * that could split the request's header lines). */
static void copy_validator(char *dst, h2o_iovec_t value)
{
    dst[0] = '\0';
    if (value.len == 0 || value.len > AVATAR_VALIDATOR_MAX)
        return;
    for (size_t i = 0; i != value.len; ++i)
        if ((unsigned char)value.base[i] < 0x20 || (unsigned char)value.base[i] > 0x7e)
            return;
    memcpy(dst, value.base, value.len);
    dst[value.len] = '\0';
}

int avatar_response_head_parse(const char *head, size_t len, avatar_response_head_t *out)
{
    size_t pos = 0;
    h2o_iovec_t line;
    int saw_length = 0;

    *out = (avatar_response_head_t){.framing = AVATAR_BODY_UNTIL_CLOSE};
    if (len == 0 || head[len - 1] != '\n' || (out->status = parse_status_line(next_line(head, len, &pos))) < 0)
        return -1;
    for (;;) {
        if (pos == len)
            return -1; /* no empty line */
        if ((line = next_line(head, len, &pos)).len == 0)
            break;
        const char *colon = memchr(line.base, ':', line.len);
        size_t name_len = colon != NULL ? (size_t)(colon - line.base) : 0;
        h2o_iovec_t value;
        if (name_len == 0) /* no name, or a folded line (obs-fold, which starts with a space) */
            return -1;
        for (size_t i = 0; i != name_len; ++i)
            if (!is_tchar((unsigned char)line.base[i]))
                return -1;
        value = trim(colon + 1, line.len - name_len - 1);
        if (name_len == 14 && strncasecmp(line.base, "content-length", 14) == 0) {
            uint64_t n;
            if (parse_content_length(value, &n) != 0 || (saw_length && n != out->content_length))
                return -1;
            out->content_length = n;
            saw_length = 1;
        } else if (name_len == 4 && strncasecmp(line.base, "etag", 4) == 0) {
            copy_validator(out->validators.etag, value);
        } else if (name_len == 13 && strncasecmp(line.base, "last-modified", 13) == 0) {
            copy_validator(out->validators.last_modified, value);
        } else if (name_len == 17 && strncasecmp(line.base, "transfer-encoding", 17) == 0) {
            /* the only coding we can undo is chunked (no gzip: Accept-Encoding is not sent) */
            if (value.len != 7 || strncasecmp(value.base, "chunked", 7) != 0 || out->framing == AVATAR_BODY_CHUNKED)
                return -1;
            out->framing = AVATAR_BODY_CHUNKED;
        }
    }
    if (pos != len)
        return -1; /* the empty line is not the end of what was passed */
    /* RFC 9112 6.3: Transfer-Encoding overrides Content-Length */
    if (saw_length && out->framing != AVATAR_BODY_CHUNKED)
        out->framing = AVATAR_BODY_LENGTH;
    return 0;
}

enum {
    CHUNK_SIZE,      /* reading the hexadecimal size */
    CHUNK_EXTENSION, /* after the size: extensions, up to the line feed */
    CHUNK_DATA,
    CHUNK_DATA_CR, /* after the data: CR LF */
    CHUNK_DATA_LF,
    CHUNK_TRAILER_START, /* after the last chunk: trailer lines, up to an empty one */
    CHUNK_TRAILER_LINE,
    CHUNK_TRAILER_END_LF,
    CHUNK_DONE,
};

/* hex_value: a hexadecimal digit's value, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

int avatar_chunked_decode(avatar_chunked_t *d, char *buf, size_t *len)
{
    size_t in = 0, out = 0, n = *len;
    int v;

    while (in != n && d->state != CHUNK_DONE) {
        char c = buf[in];
        switch (d->state) {
        case CHUNK_SIZE:
            if ((v = hex_value(c)) != -1) {
                if (d->size > (UINT64_MAX >> 4))
                    return -1;
                d->size = d->size << 4 | (uint64_t)v;
                d->digits = 1;
                ++in;
                break;
            }
            if (!d->digits)
                return -1;
            if (c != ';' && c != ' ' && c != '\t' && c != '\r' && c != '\n')
                return -1;
            d->state = CHUNK_EXTENSION;
            break;
        case CHUNK_EXTENSION:
            if (buf[in++] == '\n') {
                d->state = d->size != 0 ? CHUNK_DATA : CHUNK_TRAILER_START;
                d->digits = 0;
            }
            break;
        case CHUNK_DATA: {
            size_t take = n - in < d->size ? n - in : (size_t)d->size;
            memmove(buf + out, buf + in, take);
            in += take;
            out += take;
            if ((d->size -= take) == 0)
                d->state = CHUNK_DATA_CR;
        } break;
        case CHUNK_DATA_CR:
            ++in;
            if (c == '\r')
                d->state = CHUNK_DATA_LF;
            else if (c == '\n')
                d->state = CHUNK_SIZE;
            else
                return -1;
            break;
        case CHUNK_DATA_LF:
            ++in;
            if (c != '\n')
                return -1;
            d->state = CHUNK_SIZE;
            break;
        case CHUNK_TRAILER_START:
            ++in;
            d->state = c == '\n' ? CHUNK_DONE : c == '\r' ? CHUNK_TRAILER_END_LF : CHUNK_TRAILER_LINE;
            break;
        case CHUNK_TRAILER_LINE:
            if (buf[in++] == '\n')
                d->state = CHUNK_TRAILER_START;
            break;
        case CHUNK_TRAILER_END_LF:
            ++in;
            if (c != '\n')
                return -1;
            d->state = CHUNK_DONE;
            break;
        }
    }
    *len = out;
    return d->state == CHUNK_DONE;
}
