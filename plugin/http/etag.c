/* etag.c: entity tags and the If-None-Match evaluator. */
#include <pthread.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "http/etag.h"

/* OpenSSL 3's one-shot SHA256() looks the algorithm up in its provider store on every call (under a lock): 12% of an
 * avatar HIT's CPU, whose ETag is hashed per request (perf, issue 15). The algorithm is fetched once per process and each
 * thread keeps one digest context. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static __thread EVP_MD_CTX *digest_ctx;

static void fetch_sha256(void)
{
    if ((sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
        h2o_fatal("OpenSSL has no SHA-256");
}

/* sha256_of: the SHA-256 of len bytes into digest (SHA256_DIGEST_LENGTH bytes). */
static void sha256_of(const void *data, size_t len, unsigned char *digest)
{
    pthread_once(&sha256_once, fetch_sha256);
    if (digest_ctx == NULL && (digest_ctx = EVP_MD_CTX_new()) == NULL)
        h2o_fatal("no memory");
    if (!EVP_DigestInit_ex2(digest_ctx, sha256, NULL) || !EVP_DigestUpdate(digest_ctx, data, len) ||
        !EVP_DigestFinal_ex(digest_ctx, digest, NULL))
        h2o_fatal("SHA-256 failed");
}

size_t booka_etag_of_body(const void *body, size_t len, int weak, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char *p = out;

    sha256_of(body, len, digest);
    if (weak)
        *p++ = 'W', *p++ = '/';
    *p++ = '"';
    for (size_t i = 0; i != 16; ++i) {
        *p++ = hex[digest[i] >> 4];
        *p++ = hex[digest[i] & 15];
    }
    *p++ = '"';
    *p = '\0';
    return p - out;
}

/* etagc = %x21 / %x23-7E / obs-text */
static int is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/* opaque_of: the opaque-tag ("...") of a complete entity-tag, W/ dropped; an empty iovec when `tag` is not one. */
static h2o_iovec_t opaque_of(h2o_iovec_t tag)
{
    if (tag.len >= 2 && tag.base[0] == 'W' && tag.base[1] == '/')
        tag.base += 2, tag.len -= 2;
    if (tag.len < 2 || tag.base[0] != '"' || tag.base[tag.len - 1] != '"')
        return h2o_iovec_init(NULL, 0);
    for (size_t i = 1; i + 1 < tag.len; ++i)
        if (!is_etagc((unsigned char)tag.base[i]))
            return h2o_iovec_init(NULL, 0);
    return tag;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p != end && (*p == ' ' || *p == '\t'))
        ++p;
    return p;
}

/* evaluate: 1 when `field` matches the opaque tag `want`, 0 when it does not, -1 when it is malformed. */
static int evaluate(h2o_iovec_t field, h2o_iovec_t want)
{
    const char *p = skip_ows(field.base, field.base + field.len), *end = field.base + field.len;
    int matched = 0;

    if (p != end && *p == '*')
        return skip_ows(p + 1, end) == end ? 1 : -1; /* "*" stands alone */
    /* #entity-tag: comma-separated, optional white space, empty elements allowed (RFC 9110 5.6.1) */
    while (p != end) {
        const char *opaque;
        if (*p == ',') {
            p = skip_ows(p + 1, end);
            continue;
        }
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2;
        if (p == end || *p != '"')
            return -1;
        for (opaque = p++; p != end && *p != '"'; ++p)
            if (!is_etagc((unsigned char)*p))
                return -1;
        if (p++ == end)
            return -1; /* unterminated */
        if (h2o_memis(opaque, p - opaque, want.base, want.len))
            matched = 1;
        p = skip_ows(p, end);
        if (p != end && *p != ',')
            return -1; /* junk after a tag */
    }
    return matched;
}

int booka_etag_field_matches(h2o_iovec_t field, h2o_iovec_t etag)
{
    h2o_iovec_t want = opaque_of(etag);
    return want.len != 0 && evaluate(field, want) == 1;
}

int booka_etag_request_matches(h2o_req_t *req, h2o_iovec_t etag)
{
    h2o_iovec_t want = opaque_of(etag);
    ssize_t i = -1;
    int matched = 0;

    if (want.len == 0)
        return 0;
    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, i)) != -1) {
        switch (evaluate(req->headers.entries[i].value, want)) {
        case -1:
            return 0; /* a malformed field spoils the whole list */
        case 1:
            matched = 1;
            break;
        }
    }
    return matched;
}
