/* avatar_token.h: the avatar proxy URL that list items carry: its version token and, when the avatar endpoint it links
 * to signs its URLs, its signature (shared with the avatar module, which checks what it signs here). */
#ifndef BOOKA_AVATAR_TOKEN_H
#define BOOKA_AVATAR_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include "h2o.h"
#include "http/json.h"

#define BOOKA_AVATAR_TOKEN_LEN 16

/* What list items link to (API.md): <public-origin>/api/v1/img/avatar/<id>?w=256&dpr=2&q=90&v=<token>. */
#define BOOKA_AVATAR_URL_PATH "/api/v1/img/avatar"
#define BOOKA_AVATAR_URL_WIDTH 256
#define BOOKA_AVATAR_URL_DPR 2
#define BOOKA_AVATAR_URL_QUALITY 90

/* booka_avatar_version_token: the `v` of avatar URLs: the first 16 hex digits of the MD5 of the profile_picture_url
 * text, exactly what the schema stores in service_provider_profiles.profile_picture_version
 * (left(md5(profile_picture_url), 16)), so lists read that column instead of the URL, which may be a data: URL of
 * megabytes. A new picture has a new name, hence a new token. Writes 16 characters and a NUL to out. */
void booka_avatar_version_token(const char *text, size_t len, char out[BOOKA_AVATAR_TOKEN_LEN + 1]);

/* booka_avatar_url_json: appends the JSON string "<public-origin>/api/v1/img/avatar/<id>?w=256&dpr=2&q=90&v=<token>",
 * and "&sig=<signature>" when a signer is set (booka_avatar_url_set_signer); id is the provider's id in decimal. */
void booka_avatar_url_json(booka_buf_t *out, const char *id, size_t id_len, const char *token, size_t token_len);

/* ---- signed avatar URLs (docs/AVATAR.md, "Signed URLs") ----
 *
 * The signature is HMAC-SHA256, keyed with the avatar endpoint's key, over the signing text
 *
 *     <mount path>/<id>?<canonical query>
 *
 * where the mount path is the avatar handler's path without a trailing slash (/api/v1/img/avatar), the id is decimal
 * without leading zeros, and the canonical query holds the parameters the endpoint acts on, dpr, fmt, q, v and w, in that
 * (byte) order, each that has a value (its last occurrence, percent-decoded as the endpoint reads it: '+' is a space)
 * as name=value with the value encoded again: RFC 3986 unreserved characters as they are, every other byte %XX in upper
 * case. `sig` carries the signature as unpadded base64url (43 characters); it and every other parameter are not
 * signed (the endpoint ignores them). */

#define BOOKA_AVATAR_SIG_LEN 43
#define BOOKA_AVATAR_KEY_MIN 32 /* bytes */
#define BOOKA_AVATAR_KEY_MAX 64

enum {
    BOOKA_AVATAR_SIGNED_DPR,
    BOOKA_AVATAR_SIGNED_FMT,
    BOOKA_AVATAR_SIGNED_Q,
    BOOKA_AVATAR_SIGNED_V,
    BOOKA_AVATAR_SIGNED_W,
    BOOKA_AVATAR_SIGNED_NUM
};
extern const char *const booka_avatar_signed_names[BOOKA_AVATAR_SIGNED_NUM]; /* "dpr", "fmt", "q", "v", "w" */

/* booka_avatar_signing_text: appends the signing text for the avatar at `path` (no trailing slash), provider `id`
 * (decimal, as text) and the decoded values of the signed parameters (indexed as above; base NULL or len 0: absent). */
void booka_avatar_signing_text(booka_buf_t *out, h2o_iovec_t path, h2o_iovec_t id,
                               const h2o_iovec_t values[BOOKA_AVATAR_SIGNED_NUM]);

typedef struct booka_avatar_signer booka_avatar_signer_t;

/* booka_avatar_signer_new: HMAC-SHA256 with `key` (BOOKA_AVATAR_KEY_MIN..MAX bytes, copied), keyed once; NULL when
 * OpenSSL fails. booka_avatar_sign may then run on any thread at once. */
booka_avatar_signer_t *booka_avatar_signer_new(const uint8_t *key, size_t len);
void booka_avatar_signer_free(booka_avatar_signer_t *signer);

/* booka_avatar_signer_id: 16 hex digits naming the key (the first 8 bytes of its SHA-256), for cache keys: two instances
 * share signed list bodies only when they sign with the same key. Reveals nothing usable about the key. */
const char *booka_avatar_signer_id(const booka_avatar_signer_t *signer);

/* booka_avatar_sign: the signature of `text`, NUL-terminated, into sig. Returns 0, or -1 when OpenSSL fails. */
int booka_avatar_sign(const booka_avatar_signer_t *signer, const char *text, size_t len, char sig[BOOKA_AVATAR_SIG_LEN + 1]);

/* booka_avatar_url_set_signer: the signer of the booka.avatar mounted at BOOKA_AVATAR_URL_PATH, set while the
 * configuration is read: list items' avatar URLs carry its signature from then on. Returns 0, or -1 when another key
 * is set already (one list links to one avatar path: every booka.avatar mounted there must sign with one key). */
int booka_avatar_url_set_signer(const booka_avatar_signer_t *signer);

/* booka_avatar_url_signer: the signer set, or NULL (unsigned URLs). */
const booka_avatar_signer_t *booka_avatar_url_signer(void);

#endif
