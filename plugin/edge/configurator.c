/* configurator.c: `booka.edge`, the cache tags responses carry (plugin/edge/README.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "h2o.h"
#include "h2o/configurator.h"
#include "edge/internal.h"


edge_settings_t edge_settings = {.prefix = "booka-", .prefix_len = 6};

/* check_keys: every key of the mapping `node` is one of `allowed` (comma-separated); else an error naming them. */
static int check_keys(h2o_configurator_command_t *cmd, yoml_t *node, const char *allowed)
{
    for (size_t i = 0; i != node->data.mapping.size; ++i) {
        yoml_t *key = node->data.mapping.elements[i].key;
        const char *p = allowed;
        size_t len = key->type == YOML_TYPE_SCALAR ? strlen(key->data.scalar) : 0;
        int found = 0;
        while (len != 0 && !found && *p != '\0') {
            size_t n = strcspn(p, ",");
            found = n == len && memcmp(p, key->data.scalar, n) == 0;
            p += n + (p[n] == ',');
        }
        if (!found) {
            h2o_configurator_errprintf(cmd, key, "unknown key (expected one of %s)", allowed);
            return -1;
        }
    }
    return 0;
}

/* scan_number: a decimal integer in [min, max] from a scalar node, else an error at the node. */
static int scan_number(h2o_configurator_command_t *cmd, yoml_t *node, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *s = node->type == YOML_TYPE_SCALAR ? node->data.scalar : "";
    uint64_t value = 0;
    size_t i = 0;

    for (; s[i] >= '0' && s[i] <= '9' && value <= (UINT64_MAX - 9) / 10; ++i)
        value = value * 10 + (uint64_t)(s[i] - '0');
    if (i == 0 || s[i] != '\0' || value < min || value > max) {
        h2o_configurator_errprintf(cmd, node, "expected a number from %" PRIu64 " to %" PRIu64, min, max);
        return -1;
    }
    *out = value;
    return 0;
}

/* scan_string_or_list: a scalar, or a sequence of scalars; calls `each` for every one. */
static int scan_string_or_list(h2o_configurator_command_t *cmd, yoml_t *node, const char *what,
                               int (*each)(h2o_configurator_command_t *, yoml_t *, void *), void *data)
{
    if (node->type == YOML_TYPE_SCALAR)
        return each(cmd, node, data);
    if (node->type != YOML_TYPE_SEQUENCE || node->data.sequence.size == 0) {
        h2o_configurator_errprintf(cmd, node, "expected %s, or a list of them", what);
        return -1;
    }
    for (size_t i = 0; i != node->data.sequence.size; ++i) {
        yoml_t *item = node->data.sequence.elements[i];
        if (item->type != YOML_TYPE_SCALAR) {
            h2o_configurator_errprintf(cmd, item, "expected %s", what);
            return -1;
        }
        if (each(cmd, item, data) != 0)
            return -1;
    }
    return 0;
}

static int add_header(h2o_configurator_command_t *cmd, yoml_t *node, void *headers)
{
    for (size_t h = 0; h != EDGE_NUM_HEADERS; ++h)
        if (strcasecmp(node->data.scalar, edge_header_names[h]) == 0) {
            *(unsigned *)headers |= 1u << h;
            return 0;
        }
    h2o_configurator_errprintf(cmd, node, "unknown tag header (expected cache-tag, xkey or surrogate-key)");
    return -1;
}

/* scan_prefix: at most EDGE_PREFIX_MAX of [A-Za-z0-9_.:-], so a prefixed tag needs no escaping anywhere. */
static int scan_prefix(h2o_configurator_command_t *cmd, yoml_t *node)
{
    const char *s = node->type == YOML_TYPE_SCALAR ? node->data.scalar : NULL;
    size_t len = s != NULL ? strlen(s) : 0;

    if (s == NULL || len > EDGE_PREFIX_MAX ||
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") != len) {
        h2o_configurator_errprintf(cmd, node, "expected at most %d characters of A-Z, a-z, 0-9, '_', '.', ':' and '-'",
                                   EDGE_PREFIX_MAX);
        return -1;
    }
    memcpy(edge_settings.prefix, s, len + 1);
    edge_settings.prefix_len = len;
    return 0;
}

/* on_config_edge: the mapping of `booka.edge` (every key in plugin/edge/README.md). */
static int on_config_edge(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    unsigned headers = 0;
    uint64_t n;
    yoml_t *v;

    if (check_keys(cmd, node, "tag-prefix,tag-headers,stale-if-error") != 0)
        return -1;
    if ((v = yoml_get(node, "tag-prefix")) != NULL && scan_prefix(cmd, v) != 0)
        return -1;
    if ((v = yoml_get(node, "tag-headers")) != NULL &&
        scan_string_or_list(cmd, v, "a header name (cache-tag, xkey, surrogate-key)", add_header, &headers) != 0)
        return -1;
    if ((v = yoml_get(node, "stale-if-error")) != NULL) {
        if (scan_number(cmd, v, 0, 31536000, &n) != 0)
            return -1;
        edge_settings.stale_if_error = n;
    }
    edge_settings.headers = headers;
    return 0;
}

void booka_edge_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    h2o_configurator_define_command(c, "booka.edge", H2O_CONFIGURATOR_FLAG_GLOBAL | H2O_CONFIGURATOR_FLAG_EXPECT_MAPPING,
                                    on_config_edge);
}
