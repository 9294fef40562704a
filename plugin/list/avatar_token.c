/* avatar_token.c: the version token and the avatar proxy URL of list items. */
#include <openssl/evp.h>
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
    booka_buf_append_str(out, "/api/v1/img/avatar/");
    booka_buf_append(out, id, id_len);
    booka_buf_append_str(out, "?w=256&dpr=2&q=90&v=");
    booka_buf_append(out, token, token_len);
    booka_buf_append(out, "\"", 1);
}
