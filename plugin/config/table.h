/* table.h: every booka configurator reads its numbers and its mappings of settings through this one table-driven helper,
 * so every directive has a stated range, one unit/suffix rule, and errors that name FILE:LINE:COLUMN.
 *
 * The rules (docs/OPERATIONS.md, "Numbers in the configuration"):
 * - a number is decimal digits only: no sign, no fraction, no spaces, no trailing garbage (`-1`, `30abc`, `1e3` are
 *   errors, never a wrapped or truncated value);
 * - a count takes no suffix;
 * - a size may end in K, M or G (1024, 1024^2, 1024^3; either case); a bare number is in the key's own unit;
 * - a duration may end in ms, s, m, h or d; a bare number is in the key's own unit (ms or s, as documented);
 * - a suffixed value must come out as a whole number of the key's unit (`1500ms` is not a number of seconds);
 * - the value must lie in the key's range, stated in the key's unit; the error message states the range.
 *
 * Declaring the keys of a mapping directive (one row per key; the row names the settings struct's field):
 *
 *     static const booka_config_key_t keys[] = {
 *         BOOKA_CONFIG_COUNT("pool-size", db_settings_t, pool_size, 1, 256),
 *         BOOKA_CONFIG_DURATION("query-timeout", db_settings_t, query_timeout, BOOKA_CONFIG_MS, 1, 3600000),
 *         BOOKA_CONFIG_SIZE("cache-budget", avatar_config_t, cache_budget, BOOKA_CONFIG_BYTES, 0, (uint64_t)1 << 40),
 *         BOOKA_CONFIG_FLAG("pgbouncer", db_settings_t, pgbouncer),
 *         BOOKA_CONFIG_STRING("signing-key-env", avatar_config_t, signing_key_env),
 *         BOOKA_CONFIG_CUSTOM("url", set_url),  // int set_url(h2o_configurator_command_t *, yoml_t *value, void *settings)
 *         BOOKA_CONFIG_ALIAS("cache-max-age", "max-age"),  // an older spelling of a key above, documented as such
 *     };
 *     yoml_t *given[BOOKA_CONFIG_NKEYS(keys)];
 *     if (booka_config_apply(cmd, node, keys, BOOKA_CONFIG_NKEYS(keys), &settings, given) != 0)
 *         return -1;
 *
 * An unknown key, a repeated key (or a key given under two spellings) and a value of the wrong shape are errors at the
 * offending node; the message lists the keys the directive knows.
 */
#ifndef BOOKA_CONFIG_TABLE_H
#define BOOKA_CONFIG_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include "h2o.h"
#include "h2o/configurator.h"

/* The unit of a bare number, in the kind's base unit (bytes for sizes, milliseconds for durations). */
#define BOOKA_CONFIG_BYTES 1
#define BOOKA_CONFIG_MIB ((uint64_t)1 << 20)
#define BOOKA_CONFIG_MS 1
#define BOOKA_CONFIG_SECONDS 1000

typedef enum { BOOKA_CONFIG_KIND_COUNT, BOOKA_CONFIG_KIND_SIZE, BOOKA_CONFIG_KIND_DURATION } booka_config_kind_t;

/* booka_config_number_t: what one numeric value may be: its kind, its unit (in base units) and its range (in its unit). */
typedef struct {
    booka_config_kind_t kind;
    uint64_t unit;
    uint64_t min, max;
} booka_config_number_t;

typedef enum {
    BOOKA_CONFIG_TYPE_NUMBER,
    BOOKA_CONFIG_TYPE_FLAG,
    BOOKA_CONFIG_TYPE_STRING,
    BOOKA_CONFIG_TYPE_CUSTOM,
    BOOKA_CONFIG_TYPE_ALIAS
} booka_config_type_t;

/* booka_config_key_t: one key of a mapping. Numbers go to an unsigned (or non-negative int) field of 1, 2, 4 or 8 bytes,
 * flags (OFF/ON) to an int, strings to a malloc'd char * (the previous value freed); a custom key calls `apply`; an alias
 * row is another spelling of the row named `target` (given both ways, the key is a duplicate). */
typedef struct {
    const char *name;
    const char *target; /* alias rows only */
    booka_config_type_t type;
    booka_config_number_t number;
    size_t offset, size;
    int (*apply)(h2o_configurator_command_t *cmd, yoml_t *value, void *settings);
} booka_config_key_t;

#define BOOKA_CONFIG_FIELD_(T, f) .offset = offsetof(T, f), .size = sizeof(((T *)0)->f)
#define BOOKA_CONFIG_COUNT(key, T, f, lo, hi)                                                                                      \
    {                                                                                                                              \
        .name = (key), .type = BOOKA_CONFIG_TYPE_NUMBER, .number = {BOOKA_CONFIG_KIND_COUNT, 1, (lo), (hi)},                       \
        BOOKA_CONFIG_FIELD_(T, f)                                                                                                  \
    }
#define BOOKA_CONFIG_SIZE(key, T, f, unit, lo, hi)                                                                                 \
    {                                                                                                                              \
        .name = (key), .type = BOOKA_CONFIG_TYPE_NUMBER, .number = {BOOKA_CONFIG_KIND_SIZE, (unit), (lo), (hi)},                   \
        BOOKA_CONFIG_FIELD_(T, f)                                                                                                  \
    }
#define BOOKA_CONFIG_DURATION(key, T, f, unit, lo, hi)                                                                             \
    {                                                                                                                              \
        .name = (key), .type = BOOKA_CONFIG_TYPE_NUMBER, .number = {BOOKA_CONFIG_KIND_DURATION, (unit), (lo), (hi)},               \
        BOOKA_CONFIG_FIELD_(T, f)                                                                                                  \
    }
#define BOOKA_CONFIG_FLAG(key, T, f)                                                                                               \
    {                                                                                                                              \
        .name = (key), .type = BOOKA_CONFIG_TYPE_FLAG, BOOKA_CONFIG_FIELD_(T, f)                                                   \
    }
#define BOOKA_CONFIG_STRING(key, T, f)                                                                                             \
    {                                                                                                                              \
        .name = (key), .type = BOOKA_CONFIG_TYPE_STRING, BOOKA_CONFIG_FIELD_(T, f)                                                 \
    }
#define BOOKA_CONFIG_CUSTOM(key, fn)                                                                                               \
    {                                                                                                                              \
        .name = (key), .type = BOOKA_CONFIG_TYPE_CUSTOM, .apply = (fn)                                                             \
    }
#define BOOKA_CONFIG_ALIAS(key, of)                                                                                                \
    {                                                                                                                              \
        .name = (key), .type = BOOKA_CONFIG_TYPE_ALIAS, .target = (of)                                                             \
    }
#define BOOKA_CONFIG_NKEYS(keys) (sizeof(keys) / sizeof((keys)[0]))

/* booka_config_scan_number: reads scalar `node` by `rule` into *out (in the rule's unit). Returns 0, or -1 after reporting
 * "FILE:LINE:COLUMN: in command C, expected ..." (cmd may be NULL outside a command). */
int booka_config_scan_number(h2o_configurator_command_t *cmd, yoml_t *node, const booka_config_number_t *rule, uint64_t *out);

/* booka_config_parse_number: the same rules without a node: 0 and *out, or -1 (no report). For values from elsewhere
 * (the environment, a URL) and for tests. */
int booka_config_parse_number(const char *s, const booka_config_number_t *rule, uint64_t *out);

/* booka_config_describe_number: the rule in words ("a duration from 1 to 3600000 ms (...)"), for messages. */
const char *booka_config_describe_number(const booka_config_number_t *rule, char *buf, size_t size);

/* booka_config_apply: applies mapping `node` to `settings` by `keys`. `given`, when not NULL, has `nkeys` slots and
 * receives each key's value node (NULL for keys not present; an alias's value lands in its target's slot). Returns 0, or -1 after
 * reporting the first bad key or value. */
int booka_config_apply(h2o_configurator_command_t *cmd, yoml_t *node, const booka_config_key_t *keys, size_t nkeys, void *settings,
                       yoml_t **given);

#endif
