/* configurator.c: `booka.list`, the list endpoint on a path (see plugin/list/README.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "h2o.h"
#include "h2o/configurator.h"
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

/* on_config_list: `ON` (defaults), `OFF`, or a mapping: max-age, s-maxage and stale-while-revalidate (seconds) for the
 * Cache-Control of 200 responses; cache-ttl, cache-stale and cache-jitter (seconds) for the origin's own cache (fresh as
 * HIT, then served STALE while refreshing or while the database fails); cache-size (MiB, the process's list store);
 * cache-wait (ms a request waits for another's fill) and cache-lock (ms, the cross-instance fill lock in Redis);
 * prewarm, a list of query strings filled once after start-up. */
static int on_config_list(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    static const char *const keys[] = {"max-age",    "s-maxage",    "stale-while-revalidate",
                                       "cache-ttl",  "cache-stale", "cache-jitter",
                                       "cache-size", "cache-wait",  "cache-lock"};
    enum { MAX_AGE, S_MAXAGE, SWR, TTL, STALE, JITTER, SIZE, WAIT, LOCK, NUM_KEYS };
    uint64_t values[NUM_KEYS] = {30, 60, 300, 30, 300, 3, 64, 2000, 3000};
    booka_cache_policy_t policy;
    yoml_t *prewarm = NULL;
    list_handler_t *handler;
    char header[128];

    if (node->type == YOML_TYPE_SCALAR) {
        ssize_t on = h2o_configurator_get_one_of(cmd, node, "OFF,ON");
        if (on == -1)
            return -1;
        if (on == 0)
            return 0;
    } else {
        for (size_t i = 0; i != node->data.mapping.size; ++i) {
            yoml_t *key = node->data.mapping.elements[i].key, *value = node->data.mapping.elements[i].value;
            size_t k;
            if (key->type == YOML_TYPE_SCALAR && strcmp(key->data.scalar, "prewarm") == 0) {
                prewarm = value;
                continue;
            }
            for (k = 0; k != NUM_KEYS; ++k)
                if (key->type == YOML_TYPE_SCALAR && strcmp(key->data.scalar, keys[k]) == 0)
                    break;
            if (k == NUM_KEYS) {
                h2o_configurator_errprintf(cmd, key,
                                           "unknown key (expected max-age, s-maxage, stale-while-revalidate, cache-ttl, "
                                           "cache-stale, cache-jitter, cache-size, cache-wait or cache-lock)");
                return -1;
            }
            if (value->type != YOML_TYPE_SCALAR || h2o_configurator_scanf(cmd, value, "%" SCNu64, &values[k]) != 0)
                return -1;
        }
    }
    if (values[JITTER] > values[TTL]) {
        h2o_configurator_errprintf(cmd, node, "cache-jitter cannot exceed cache-ttl");
        return -1;
    }
    snprintf(header, sizeof(header), "public, max-age=%" PRIu64 ", s-maxage=%" PRIu64 ", stale-while-revalidate=%" PRIu64,
             values[MAX_AGE], values[S_MAXAGE], values[SWR]);
    policy = (booka_cache_policy_t){.fresh_ms = values[TTL] * 1000,
                                    .jitter_ms = values[JITTER] * 1000,
                                    .stale_ms = values[STALE] * 1000,
                                    .wait_ms = values[WAIT],
                                    .lock_ms = values[LOCK]};
    handler = list_handler_register(ctx->pathconf, h2o_strdup(NULL, header, SIZE_MAX), &policy, (size_t)values[SIZE] << 20);
    return prewarm != NULL ? add_prewarm(cmd, handler, prewarm) : 0;
}

void booka_list_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    h2o_configurator_define_command(c, "booka.list",
                                    H2O_CONFIGURATOR_FLAG_PATH | H2O_CONFIGURATOR_FLAG_DEFERRED |
                                        H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR | H2O_CONFIGURATOR_FLAG_EXPECT_MAPPING,
                                    on_config_list);
}
