/* internal.h: what the files of plugin/edge share: the settings `booka.edge` fills in. */
#ifndef BOOKA_EDGE_INTERNAL_H
#define BOOKA_EDGE_INTERNAL_H

#include <stdint.h>
#include "h2o.h"
#include "edge/edge.h"
#include "http/json.h"

/* The response headers that can carry the tags, as bits of edge_settings.headers. */
enum { EDGE_HEADER_CACHE_TAG = 1, EDGE_HEADER_XKEY = 2, EDGE_HEADER_SURROGATE_KEY = 4 };
#define EDGE_NUM_HEADERS 3
extern const char *const edge_header_names[EDGE_NUM_HEADERS]; /* "cache-tag", "xkey", "surrogate-key", by bit index */

#define EDGE_PREFIX_MAX 64

typedef struct edge_settings {
    char prefix[EDGE_PREFIX_MAX + 1]; /* put before every tag, e.g. "booka-" */
    size_t prefix_len;
    unsigned headers;        /* EDGE_HEADER_* bits: which response headers carry the tags */
    uint64_t stale_if_error; /* seconds, added to the list's Cache-Control; 0: not sent */
} edge_settings_t;

/* Process-wide, written only while the configuration is applied. */
extern edge_settings_t edge_settings;

/* ---- tags.c ---- */

/* edge_tag_append_slug: appends the tag text of a category slug: bytes a-z, 0-9, '_' and '.' as they are, every other
 * byte as %XX (upper-case hex), exactly as the schema's booka_edge_tag_text() spells it (migration 010), so the tag the
 * response carries and the tag the trigger names are the same bytes, and no tag holds a separator (space, comma) or a
 * byte a header cannot carry. */
void edge_tag_append_slug(booka_buf_t *out, const char *slug, size_t len);

#endif
