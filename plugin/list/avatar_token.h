/* avatar_token.h: the avatar proxy URL that list items carry, and its version token (shared with the avatar module). */
#ifndef BOOKA_AVATAR_TOKEN_H
#define BOOKA_AVATAR_TOKEN_H

#include <stddef.h>
#include "http/json.h"

#define BOOKA_AVATAR_TOKEN_LEN 16

/* booka_avatar_version_token: the `v` of avatar URLs: the first 16 hex digits of the MD5 of the profile_picture_url
 * text, exactly what the schema stores in service_provider_profiles.profile_picture_version
 * (left(md5(profile_picture_url), 16)), so lists read that column instead of the URL, which may be a data: URL of
 * megabytes. A new picture has a new name, hence a new token. Writes 16 characters and a NUL to out. */
void booka_avatar_version_token(const char *text, size_t len, char out[BOOKA_AVATAR_TOKEN_LEN + 1]);

/* booka_avatar_url_json: appends the JSON string "<public-origin>/api/v1/img/avatar/<id>?w=256&dpr=2&q=90&v=<token>";
 * id is the provider's id in decimal. */
void booka_avatar_url_json(booka_buf_t *out, const char *id, size_t id_len, const char *token, size_t token_len);

#endif
