/* edge.h: the shared caches in front of the origin (Cloudflare, Varnish, Fastly). Responses name what they depend on in
 * cache tags (Cache-Tag, xkey, Surrogate-Key), and on every write one instance purges the tags the write touched; see
 * plugin/edge/README.md. */
#ifndef BOOKA_EDGE_H
#define BOOKA_EDGE_H

#include <stdint.h>
#include "h2o.h"
#include "http/json.h"

/* booka_edge_tags_t: the tag header values of one kind of response, built once and shared by every response of that
 * kind (opaque). */
typedef struct booka_edge_tags booka_edge_tags_t;

/* booka_edge_register_configurator: the global `booka.edge` directive. */
void booka_edge_register_configurator(h2o_globalconf_t *conf);

/* booka_edge_list_tags: the tags of a list response for the category slug `slug` (len 0: no category): "list", plus
 * "list-all" or "list-cat-<slug>", each with the configured prefix. Built once per category and kept for the process (a
 * few hundred categories; past that, built in `pool` for the one request). NULL when no tag header is configured. */
const booka_edge_tags_t *booka_edge_list_tags(const char *slug, size_t len, h2o_mem_pool_t *pool);

/* booka_edge_set_tags: adds the configured tag headers holding `tags` to the response (nothing for NULL). */
void booka_edge_set_tags(h2o_req_t *req, const booka_edge_tags_t *tags);

/* booka_edge_tag_avatar: adds the tags of the avatar of `provider_id` at an unversioned URL ("avatar",
 * "avatar-<id>"), built in the request's pool; nothing when no tag header is configured. */
void booka_edge_tag_avatar(h2o_req_t *req, int64_t provider_id);

/* booka_edge_cache_control: `cache_control` with ", stale-if-error=N" appended when `booka.edge` sets stale-if-error
 * (a new string kept for the process), else `cache_control` itself. Call after the global level is configured. */
h2o_iovec_t booka_edge_cache_control(h2o_iovec_t cache_control);

/* booka_edge_is_purging: some purge target (Varnish, Cloudflare) is configured. */
int booka_edge_is_purging(void);

/* booka_edge_context_init: the first loop thread to call it hosts the purger (later calls do nothing); call it where the
 * invalidation's LISTEN connection is started, after it. Nothing without purge targets. */
void booka_edge_context_init(h2o_context_t *ctx);

/* booka_edge_collect_metrics: changes claimed, purge requests and tags per target, in Prometheus text format. */
void booka_edge_collect_metrics(booka_buf_t *out);

#endif
