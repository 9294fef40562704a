/* avatar.h: GET /api/v1/img/avatar/{id} (API.md): square avatar thumbnails of a provider's picture, negotiated, cached
 * and revalidated; see docs/AVATAR.md. */
#ifndef BOOKA_AVATAR_H
#define BOOKA_AVATAR_H

#include "h2o.h"

/* booka_avatar_register_configurator: the `booka.avatar` path directive, and the `avatar` block of the status handler
 * (decodes, hits, misses, coalesced waits, busy refusals, upstream fetches). */
void booka_avatar_register_configurator(h2o_globalconf_t *conf);

#endif
