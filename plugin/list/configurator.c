/* configurator.c: `booka.list`, the list endpoint on a path (see plugin/list/README.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "h2o.h"
#include "h2o/configurator.h"
#include "config/table.h"
#include "list/handler.h"

/* add_prewarm: `prewarm: [query strings]`, each validated now so a typo fails the configuration, not the start-up. */
static int add_prewarm(h2o_configurator_command_t *cmd, list_handler_t *handler, yoml_t *node)
{
    if (node->type != YOML_TYPE_SEQUENCE) {
        h2o_configurator_errprintf(cmd, node, "`prewarm` must be a list of query strings, e.g. [\"category=dj&sort=most_booked\"]");
        return -1;
    }
    for (size_t i = 0; i != node->data.sequence.size; ++i) {
        yoml_t *item = node->data.sequence.elements[i];
        list_request_t request;
        booka_buf_t errors = {NULL};
        int ok = item->type == YOML_TYPE_SCALAR &&
                 list_request_parse(&request, item->data.scalar, strlen(item->data.scalar), &errors) == LIST_PARSE_OK;
        booka_buf_free(&errors);
        if (!ok) {
            h2o_configurator_errprintf(cmd, item, "not a valid list query string");
            return -1;
        }
        h2o_vector_reserve(NULL, &handler->prewarm, handler->prewarm.size + 1);
        handler->prewarm.entries[handler->prewarm.size++] = h2o_strdup(NULL, item->data.scalar, SIZE_MAX);
    }
    return 0;
}

/* list_settings_t: what `booka.list` sets; seconds unless named otherwise. */
typedef struct {
    uint64_t max_age, s_maxage, stale_while_revalidate, cache_ttl, cache_stale, cache_jitter, cache_size_mib, cache_wait_ms,
        cache_lock_ms;
    yoml_t *prewarm;
} list_settings_t;

static int set_prewarm(h2o_configurator_command_t *cmd, yoml_t *value, void *settings)
{
    ((list_settings_t *)settings)->prewarm = value;
    return 0;
}

#define TEN_YEARS 315360000
static const booka_config_key_t list_keys[] = {
    BOOKA_CONFIG_DURATION("max-age", list_settings_t, max_age, BOOKA_CONFIG_SECONDS, 0, TEN_YEARS),
    BOOKA_CONFIG_DURATION("s-maxage", list_settings_t, s_maxage, BOOKA_CONFIG_SECONDS, 0, TEN_YEARS),
    BOOKA_CONFIG_DURATION("stale-while-revalidate", list_settings_t, stale_while_revalidate, BOOKA_CONFIG_SECONDS, 0, TEN_YEARS),
    BOOKA_CONFIG_DURATION("cache-ttl", list_settings_t, cache_ttl, BOOKA_CONFIG_SECONDS, 0, TEN_YEARS),
    BOOKA_CONFIG_DURATION("cache-stale", list_settings_t, cache_stale, BOOKA_CONFIG_SECONDS, 0, TEN_YEARS),
    BOOKA_CONFIG_DURATION("cache-jitter", list_settings_t, cache_jitter, BOOKA_CONFIG_SECONDS, 0, TEN_YEARS),
    BOOKA_CONFIG_SIZE("cache-size", list_settings_t, cache_size_mib, BOOKA_CONFIG_MIB, 0, 65536),
    BOOKA_CONFIG_DURATION("cache-wait", list_settings_t, cache_wait_ms, BOOKA_CONFIG_MS, 0, 3600000),
    BOOKA_CONFIG_DURATION("cache-lock", list_settings_t, cache_lock_ms, BOOKA_CONFIG_MS, 1, 3600000),
    BOOKA_CONFIG_CUSTOM("prewarm", set_prewarm),
};
#undef TEN_YEARS

/* on_config_list: `ON` (defaults), `OFF`, or a mapping of list_keys: max-age, s-maxage and stale-while-revalidate for the
 * Cache-Control of 200 responses; cache-ttl, cache-stale and cache-jitter for the origin's own cache (fresh as HIT, then
 * served STALE while refreshing or while the database fails); cache-size (MiB, the process's list store); cache-wait (ms
 * a request waits for another's fill) and cache-lock (ms, the cross-instance fill lock in Redis); prewarm, a list of query
 * strings filled once after start-up. */
static int on_config_list(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    list_settings_t s = {.max_age = 30,
                         .s_maxage = 60,
                         .stale_while_revalidate = 300,
                         .cache_ttl = 30,
                         .cache_stale = 300,
                         .cache_jitter = 3,
                         .cache_size_mib = 64,
                         .cache_wait_ms = 2000,
                         .cache_lock_ms = 3000};
    booka_cache_policy_t policy;
    list_handler_t *handler;
    char header[128];

    if (node->type == YOML_TYPE_SCALAR) {
        ssize_t on = h2o_configurator_get_one_of(cmd, node, "OFF,ON");
        if (on == -1)
            return -1;
        if (on == 0)
            return 0;
    } else if (booka_config_apply(cmd, node, list_keys, BOOKA_CONFIG_NKEYS(list_keys), &s, NULL) != 0) {
        return -1;
    }
    if (s.cache_jitter > s.cache_ttl) {
        yoml_t *jitter = yoml_get(node, "cache-jitter");
        h2o_configurator_errprintf(cmd, jitter != NULL ? jitter : node, "cache-jitter cannot exceed cache-ttl");
        return -1;
    }
    snprintf(header, sizeof(header), "public, max-age=%" PRIu64 ", s-maxage=%" PRIu64 ", stale-while-revalidate=%" PRIu64,
             s.max_age, s.s_maxage, s.stale_while_revalidate);
    policy = (booka_cache_policy_t){.fresh_ms = s.cache_ttl * 1000,
                                    .jitter_ms = s.cache_jitter * 1000,
                                    .stale_ms = s.cache_stale * 1000,
                                    .wait_ms = s.cache_wait_ms,
                                    .lock_ms = s.cache_lock_ms};
    handler = list_handler_register(ctx->pathconf, h2o_strdup(NULL, header, SIZE_MAX), &policy, (size_t)s.cache_size_mib << 20);
    return s.prewarm != NULL ? add_prewarm(cmd, handler, s.prewarm) : 0;
}

void booka_list_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    h2o_configurator_define_command(c, "booka.list",
                                    H2O_CONFIGURATOR_FLAG_PATH | H2O_CONFIGURATOR_FLAG_DEFERRED |
                                        H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR | H2O_CONFIGURATOR_FLAG_EXPECT_MAPPING,
                                    on_config_list);
}
