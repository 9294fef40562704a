/* table.c: the configurators' one reader of numbers and mappings of settings (rules and usage in table.h). Hand-written:
 * libh2o's h2o_configurator_scanf is sscanf, which reads `-1` as 2^64-1 and `30abc` as 30, and libyaml has no notion of
 * units or ranges. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/table.h"

struct suffix {
    const char *text;
    uint64_t factor; /* in the kind's base unit */
};

static const struct suffix size_suffixes[] = {{"K", 1024},    {"k", 1024},    {"M", 1 << 20},
                                              {"m", 1 << 20}, {"G", 1 << 30}, {"g", 1 << 30}};
static const struct suffix duration_suffixes[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};

/* suffix_factor: the factor `text` stands for under `kind`; 0 when it is not one of the kind's suffixes. */
static uint64_t suffix_factor(booka_config_kind_t kind, const char *text)
{
    const struct suffix *list = kind == BOOKA_CONFIG_KIND_SIZE ? size_suffixes : duration_suffixes;
    size_t n = kind == BOOKA_CONFIG_KIND_SIZE ? sizeof(size_suffixes) / sizeof(size_suffixes[0])
                                              : sizeof(duration_suffixes) / sizeof(duration_suffixes[0]);

    if (kind == BOOKA_CONFIG_KIND_COUNT)
        return 0;
    for (size_t i = 0; i != n; ++i)
        if (strcmp(list[i].text, text) == 0)
            return list[i].factor;
    return 0;
}

int booka_config_parse_number(const char *s, const booka_config_number_t *rule, uint64_t *out)
{
    uint64_t value = 0, factor;
    size_t i = 0;

    for (; s[i] >= '0' && s[i] <= '9'; ++i) {
        if (value > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        value = value * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0)
        return -1;
    if (s[i] != '\0') {
        if ((factor = suffix_factor(rule->kind, s + i)) == 0 || value > UINT64_MAX / factor)
            return -1;
        value *= factor;
        if (value % rule->unit != 0)
            return -1;
        value /= rule->unit;
    }
    if (value < rule->min || value > rule->max)
        return -1;
    *out = value;
    return 0;
}

/* unit_name: the key's unit in words. */
static const char *unit_name(const booka_config_number_t *rule)
{
    switch (rule->kind) {
    case BOOKA_CONFIG_KIND_SIZE:
        return rule->unit == BOOKA_CONFIG_MIB ? "MiB" : rule->unit == 1024 ? "KiB" : "bytes";
    case BOOKA_CONFIG_KIND_DURATION:
        return rule->unit == BOOKA_CONFIG_SECONDS ? "s" : "ms";
    default:
        return "";
    }
}

const char *booka_config_describe_number(const booka_config_number_t *rule, char *buf, size_t size)
{
    const char *unit = unit_name(rule);

    switch (rule->kind) {
    case BOOKA_CONFIG_KIND_COUNT:
        snprintf(buf, size, "a whole number from %" PRIu64 " to %" PRIu64, rule->min, rule->max);
        break;
    case BOOKA_CONFIG_KIND_SIZE:
        snprintf(buf, size,
                 "a size from %" PRIu64 " to %" PRIu64
                 " %s (a bare number counts %s; K, M or G multiplies by 1024, 1024^2 or 1024^3)",
                 rule->min, rule->max, unit, unit);
        break;
    case BOOKA_CONFIG_KIND_DURATION:
        snprintf(buf, size, "a duration from %" PRIu64 " to %" PRIu64 " %s (a bare number counts %s; or suffixed ms, s, m, h or d)",
                 rule->min, rule->max, unit, unit);
        break;
    }
    return buf;
}

int booka_config_scan_number(h2o_configurator_command_t *cmd, yoml_t *node, const booka_config_number_t *rule, uint64_t *out)
{
    char what[256];

    if (node->type == YOML_TYPE_SCALAR && booka_config_parse_number(node->data.scalar, rule, out) == 0)
        return 0;
    booka_config_describe_number(rule, what, sizeof(what));
    if (node->type == YOML_TYPE_SCALAR)
        h2o_configurator_errprintf(cmd, node, "expected %s, got `%s`", what, node->data.scalar);
    else
        h2o_configurator_errprintf(cmd, node, "expected %s", what);
    return -1;
}

/* table_bug: a row that cannot work is a programming error, found the first time the directive is read. */
__attribute__((noreturn, format(printf, 1, 2))) static void table_bug(const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    fprintf(stderr, "booka config table: ");
    vfprintf(stderr, fmt, args);
    fprintf(stderr, "\n");
    va_end(args);
    abort();
}

/* store_number: writes `v` into an unsigned field of `size` bytes (the range check made sure it fits). */
static void store_number(void *field, size_t size, uint64_t v)
{
    switch (size) {
    case 1:
        *(uint8_t *)field = (uint8_t)v;
        break;
    case 2:
        *(uint16_t *)field = (uint16_t)v;
        break;
    case 4:
        *(uint32_t *)field = (uint32_t)v;
        break;
    default:
        *(uint64_t *)field = v;
        break;
    }
}

/* check_row: a table row whose field cannot hold its range, or whose alias names no row, is a programming error. */
static void check_row(const booka_config_key_t *row)
{
    if (row->type == BOOKA_CONFIG_TYPE_NUMBER && !(row->size == 8 || ((row->size == 1 || row->size == 2 || row->size == 4) &&
                                                                      row->number.max < (uint64_t)1 << (8 * row->size - 1))))
        table_bug("the range of `%s` does not fit its field", row->name);
    if (row->type == BOOKA_CONFIG_TYPE_FLAG && row->size != sizeof(int))
        table_bug("flag `%s` needs an int field", row->name);
    if (row->type == BOOKA_CONFIG_TYPE_STRING && row->size != sizeof(char *))
        table_bug("string `%s` needs a char * field", row->name);
}

/* apply_row: one value by its row. */
static int apply_row(h2o_configurator_command_t *cmd, yoml_t *value, const booka_config_key_t *row, void *settings)
{
    char *field = (char *)settings + row->offset;
    uint64_t v;
    ssize_t on;

    check_row(row);
    switch (row->type) {
    case BOOKA_CONFIG_TYPE_NUMBER:
        if (booka_config_scan_number(cmd, value, &row->number, &v) != 0)
            return -1;
        store_number(field, row->size, v);
        return 0;
    case BOOKA_CONFIG_TYPE_FLAG:
        if (value->type != YOML_TYPE_SCALAR || (on = h2o_configurator_get_one_of(cmd, value, "OFF,ON")) == -1) {
            if (value->type != YOML_TYPE_SCALAR)
                h2o_configurator_errprintf(cmd, value, "`%s` expects ON or OFF", row->name);
            return -1;
        }
        *(int *)field = (int)on;
        return 0;
    case BOOKA_CONFIG_TYPE_STRING:
        if (value->type != YOML_TYPE_SCALAR) {
            h2o_configurator_errprintf(cmd, value, "`%s` expects a string", row->name);
            return -1;
        }
        free(*(char **)field);
        *(char **)field = h2o_strdup(NULL, value->data.scalar, SIZE_MAX).base;
        return 0;
    case BOOKA_CONFIG_TYPE_CUSTOM:
        return row->apply(cmd, value, settings);
    default:
        table_bug("alias `%s` applied directly", row->name);
    }
}

/* find_row: the index of the row spelled `name` (an alias resolved to its target), or nkeys. */
static size_t find_row(const booka_config_key_t *keys, size_t nkeys, const char *name)
{
    size_t i;

    for (i = 0; i != nkeys && strcmp(keys[i].name, name) != 0; ++i)
        ;
    if (i != nkeys && keys[i].type == BOOKA_CONFIG_TYPE_ALIAS) {
        const char *target = keys[i].target;
        for (i = 0; i != nkeys && strcmp(keys[i].name, target) != 0; ++i)
            ;
        if (i == nkeys || keys[i].type == BOOKA_CONFIG_TYPE_ALIAS)
            table_bug("alias of an unknown key `%s`", target);
    }
    return i;
}

/* key_list: "a, b or c", every spelling in the table. */
static const char *key_list(const booka_config_key_t *keys, size_t nkeys, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i != nkeys && len < size; ++i)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i == 0 ? "" : i + 1 == nkeys ? " or " : ", ", keys[i].name);
    return buf;
}

int booka_config_apply(h2o_configurator_command_t *cmd, yoml_t *node, const booka_config_key_t *keys, size_t nkeys, void *settings,
                       yoml_t **given)
{
    yoml_t **seen = given != NULL ? given : h2o_mem_alloc(nkeys * sizeof(*seen));
    char known[1024];
    int ret = -1;

    memset(seen, 0, nkeys * sizeof(*seen));
    if (node->type != YOML_TYPE_MAPPING) {
        h2o_configurator_errprintf(cmd, node, "expected a mapping of %s", key_list(keys, nkeys, known, sizeof(known)));
        goto Exit;
    }
    for (size_t i = 0; i != node->data.mapping.size; ++i) {
        yoml_t *key = node->data.mapping.elements[i].key, *value = node->data.mapping.elements[i].value;
        size_t row = key->type == YOML_TYPE_SCALAR ? find_row(keys, nkeys, key->data.scalar) : nkeys;
        if (row == nkeys) {
            h2o_configurator_errprintf(cmd, key, "unknown key%s%s%s (expected %s)", key->type == YOML_TYPE_SCALAR ? " `" : "",
                                       key->type == YOML_TYPE_SCALAR ? key->data.scalar : "",
                                       key->type == YOML_TYPE_SCALAR ? "`" : "", key_list(keys, nkeys, known, sizeof(known)));
            goto Exit;
        }
        if (seen[row] != NULL) {
            h2o_configurator_errprintf(cmd, key, "`%s` is given more than once (also at %s)", keys[row].name,
                                       seen[row]->filename != NULL ? seen[row]->filename : "?");
            goto Exit;
        }
        seen[row] = value;
        if (apply_row(cmd, value, keys + row, settings) != 0)
            goto Exit;
    }
    ret = 0;
Exit:
    if (given == NULL)
        free(seen);
    return ret;
}
