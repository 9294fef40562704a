/* etag.h: entity tags from body bytes, and If-None-Match evaluation per RFC 9110 section 13.1.2. */
#ifndef BOOKA_ETAG_H
#define BOOKA_ETAG_H

#include "h2o.h"

#define BOOKA_ETAG_MAX 48 /* W/"<32 hex digits>" plus NUL, with room to spare */

/* booka_etag_of_body: a tag derived from the bytes alone (SHA-256, first 128 bits, hex), so every instance gives the same
 * body the same tag. `weak` prefixes W/. Writes a NUL-terminated tag into out (BOOKA_ETAG_MAX bytes) and returns its
 * length. */
size_t booka_etag_of_body(const void *body, size_t len, int weak, char *out);

/* booka_etag_field_matches: whether the If-None-Match field value `field` matches `etag` (a complete entity-tag, W/ or
 * not): "*" matches; otherwise a comma-separated list of entity-tags compared weakly (opaque tags equal, W/ ignored).
 * Commas inside quoted tags do not split the list. A malformed field value matches nothing: the full response is sent. */
int booka_etag_field_matches(h2o_iovec_t field, h2o_iovec_t etag);

/* booka_etag_request_matches: the same over every If-None-Match field of the request (several fields form one list;
 * a malformed one matches nothing). Returns 0 when the request has none. */
int booka_etag_request_matches(h2o_req_t *req, h2o_iovec_t etag);

#endif
