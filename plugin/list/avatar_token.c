/* avatar_token.c: the version token, the signature and the avatar proxy URL of list items. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>
#include "http/http.h"
#include "list/avatar_token.h"

void booka_avatar_version_token(const char *text, size_t len, char out[BOOKA_AVATAR_TOKEN_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (!EVP_Digest(text, len, digest, &digest_len, EVP_md5(), NULL) || digest_len < BOOKA_AVATAR_TOKEN_LEN / 2)
        memset(digest, 0, BOOKA_AVATAR_TOKEN_LEN / 2);
    for (size_t i = 0; i != BOOKA_AVATAR_TOKEN_LEN / 2; ++i) {
        out[i * 2] = hex[digest[i] >> 4];
        out[i * 2 + 1] = hex[digest[i] & 15];
    }
    out[BOOKA_AVATAR_TOKEN_LEN] = '\0';
}

const char *const booka_avatar_signed_names[BOOKA_AVATAR_SIGNED_NUM] = {"dpr", "fmt", "q", "v", "w"};

/* append_canonical: `value` with RFC 3986 unreserved characters as they are and every other byte as %XX (upper case). */
static void append_canonical(booka_buf_t *out, const char *value, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)value[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            booka_buf_append(out, value + i, 1);
        } else {
            char escaped[3] = {'%', hex[c >> 4], hex[c & 15]};
            booka_buf_append(out, escaped, 3);
        }
    }
}

void booka_avatar_signing_text(booka_buf_t *out, h2o_iovec_t path, h2o_iovec_t id,
                               const h2o_iovec_t values[BOOKA_AVATAR_SIGNED_NUM])
{
    int first = 1;

    booka_buf_append(out, path.base, path.len);
    booka_buf_append(out, "/", 1);
    booka_buf_append(out, id.base, id.len);
    booka_buf_append(out, "?", 1);
    for (size_t i = 0; i != BOOKA_AVATAR_SIGNED_NUM; ++i) {
        if (values[i].base == NULL || values[i].len == 0)
            continue;
        if (!first)
            booka_buf_append(out, "&", 1);
        booka_buf_append_str(out, booka_avatar_signed_names[i]);
        booka_buf_append(out, "=", 1);
        append_canonical(out, values[i].base, values[i].len);
        first = 0;
    }
}

struct booka_avatar_signer {
    EVP_MAC *mac;
    EVP_MAC_CTX *keyed; /* initialised with the key once; each signature works on a duplicate */
    char id[17];
};

booka_avatar_signer_t *booka_avatar_signer_new(const uint8_t *key, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    booka_avatar_signer_t *signer = calloc(1, sizeof(*signer));
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_construct_end()};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (signer == NULL || (signer->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
        (signer->keyed = EVP_MAC_CTX_new(signer->mac)) == NULL || !EVP_MAC_init(signer->keyed, key, len, params) ||
        !EVP_Digest(key, len, digest, &digest_len, EVP_sha256(), NULL) || digest_len < 8) {
        booka_avatar_signer_free(signer);
        return NULL;
    }
    for (size_t i = 0; i != 8; ++i) {
        signer->id[i * 2] = hex[digest[i] >> 4];
        signer->id[i * 2 + 1] = hex[digest[i] & 15];
    }
    return signer;
}

void booka_avatar_signer_free(booka_avatar_signer_t *signer)
{
    if (signer == NULL)
        return;
    EVP_MAC_CTX_free(signer->keyed);
    EVP_MAC_free(signer->mac);
    free(signer);
}

const char *booka_avatar_signer_id(const booka_avatar_signer_t *signer)
{
    return signer->id;
}

int booka_avatar_sign(const booka_avatar_signer_t *signer, const char *text, size_t len, char sig[BOOKA_AVATAR_SIG_LEN + 1])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(signer->keyed);
    unsigned char mac[33] = {0}; /* 32 bytes and a zero, so the last group of three reads no further */
    size_t mac_len = 0;
    int ok = ctx != NULL && EVP_MAC_update(ctx, (const unsigned char *)text, len) && EVP_MAC_final(ctx, mac, &mac_len, 32) &&
             mac_len == 32;

    EVP_MAC_CTX_free(ctx);
    if (!ok)
        return -1;
    for (size_t i = 0, o = 0; i < 32; i += 3) { /* base64url without padding: 32 bytes are 43 characters */
        uint32_t group = (uint32_t)mac[i] << 16 | (uint32_t)mac[i + 1] << 8 | (i + 2 < 32 ? mac[i + 2] : 0);
        sig[o++] = alphabet[group >> 18 & 63];
        sig[o++] = alphabet[group >> 12 & 63];
        sig[o++] = alphabet[group >> 6 & 63];
        if (i + 2 < 32)
            sig[o++] = alphabet[group & 63];
    }
    sig[BOOKA_AVATAR_SIG_LEN] = '\0';
    return 0;
}

static const booka_avatar_signer_t *url_signer;

int booka_avatar_url_set_signer(const booka_avatar_signer_t *signer)
{
    if (url_signer != NULL && strcmp(url_signer->id, signer->id) != 0)
        return -1;
    url_signer = signer;
    return 0;
}

const booka_avatar_signer_t *booka_avatar_url_signer(void)
{
    return url_signer;
}

/* append_signature: "&sig=<signature>" of the list's URL for provider `id` with version `token`; nothing when OpenSSL
 * fails (the URL then answers 403, and the failure is not silent there). */
static void append_signature(booka_buf_t *out, const char *id, size_t id_len, const char *token, size_t token_len)
{
    h2o_iovec_t values[BOOKA_AVATAR_SIGNED_NUM] = {{NULL}};
    char sig[BOOKA_AVATAR_SIG_LEN + 1];
    booka_buf_t text = {NULL};

    values[BOOKA_AVATAR_SIGNED_W] = h2o_iovec_init(H2O_STRLIT(H2O_TO_STR(BOOKA_AVATAR_URL_WIDTH)));
    values[BOOKA_AVATAR_SIGNED_DPR] = h2o_iovec_init(H2O_STRLIT(H2O_TO_STR(BOOKA_AVATAR_URL_DPR)));
    values[BOOKA_AVATAR_SIGNED_Q] = h2o_iovec_init(H2O_STRLIT(H2O_TO_STR(BOOKA_AVATAR_URL_QUALITY)));
    values[BOOKA_AVATAR_SIGNED_V] = h2o_iovec_init(token, token_len);
    booka_avatar_signing_text(&text, h2o_iovec_init(H2O_STRLIT(BOOKA_AVATAR_URL_PATH)), h2o_iovec_init(id, id_len), values);
    booka_buf_or_abort(&text); /* fixed size: no unsigned URL for a lack of memory (http/json.h, out of memory) */
    if (booka_avatar_sign(url_signer, text.base, text.len, sig) == 0) {
        booka_buf_append_str(out, "&sig=");
        booka_buf_append(out, sig, BOOKA_AVATAR_SIG_LEN);
    }
    booka_buf_free(&text);
}

void booka_avatar_url_json(booka_buf_t *out, const char *id, size_t id_len, const char *token, size_t token_len)
{
    h2o_iovec_t origin = booka_http_settings.public_origin;

    booka_buf_append(out, "\"", 1);
    for (size_t i = 0; i != origin.len; ++i) { /* configured text: escaped like any JSON string content */
        unsigned char c = origin.base[i];
        if (c == '"' || c == '\\')
            booka_buf_appendf(out, "\\%c", c);
        else if (c < 0x20)
            booka_buf_appendf(out, "\\u%04x", c);
        else
            booka_buf_append(out, origin.base + i, 1);
    }
    booka_buf_append_str(out, BOOKA_AVATAR_URL_PATH "/");
    booka_buf_append(out, id, id_len);
    booka_buf_append_str(out, "?w=" H2O_TO_STR(BOOKA_AVATAR_URL_WIDTH) "&dpr=" H2O_TO_STR(BOOKA_AVATAR_URL_DPR) "&q=" H2O_TO_STR(
                                  BOOKA_AVATAR_URL_QUALITY) "&v=");
    append_canonical(out, token, token_len); /* hex digits: as they are */
    if (url_signer != NULL)
        append_signature(out, id, id_len, token, token_len);
    booka_buf_append(out, "\"", 1);
}
