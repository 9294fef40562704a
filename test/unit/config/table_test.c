/* table_test.c: the configurators' number rules (range, suffixes, no wrap, no trailing garbage) and the mapping reader
 * (unknown, repeated and aliased keys, fields of each width). */
#include <stdint.h>
#include <stdlib.h>
#include "unit.h"
#include "config/table.h"
#include "config/yaml_loader.h"

static const booka_config_number_t count = {BOOKA_CONFIG_KIND_COUNT, 1, 1, 256};
static const booka_config_number_t seconds = {BOOKA_CONFIG_KIND_DURATION, BOOKA_CONFIG_SECONDS, 0, 315360000};
static const booka_config_number_t millis = {BOOKA_CONFIG_KIND_DURATION, BOOKA_CONFIG_MS, 1, 3600000};
static const booka_config_number_t bytes = {BOOKA_CONFIG_KIND_SIZE, BOOKA_CONFIG_BYTES, 1024, (uint64_t)1 << 32};
static const booka_config_number_t mib = {BOOKA_CONFIG_KIND_SIZE, BOOKA_CONFIG_MIB, 1, 65536};

/* parse: the value, or -1 when the rule refuses `s`. */
static long long parse(const char *s, const booka_config_number_t *rule)
{
    uint64_t v;
    return booka_config_parse_number(s, rule, &v) == 0 ? (long long)v : -1;
}

static void test_numbers_are_digits_in_range(void)
{
    CHECK_INT_EQ(parse("4", &count), 4);
    CHECK_INT_EQ(parse("256", &count), 256);
    CHECK_INT_EQ(parse("257", &count), -1);
    CHECK_INT_EQ(parse("0", &count), -1);
    CHECK_INT_EQ(parse("-1", &count), -1);    /* sscanf("%lu") made this 2^64-1 */
    CHECK_INT_EQ(parse("30abc", &count), -1); /* sscanf made this 30 */
    CHECK_INT_EQ(parse("+3", &count), -1);
    CHECK_INT_EQ(parse(" 3", &count), -1);
    CHECK_INT_EQ(parse("3 ", &count), -1);
    CHECK_INT_EQ(parse("1e2", &count), -1);
    CHECK_INT_EQ(parse("2.5", &count), -1);
    CHECK_INT_EQ(parse("", &count), -1);
    CHECK_INT_EQ(parse("4K", &count), -1);                     /* a count takes no suffix */
    CHECK_INT_EQ(parse("18446744073709551616", &seconds), -1); /* 2^64: no wrap */
    CHECK_INT_EQ(parse("99999999999999999999999", &seconds), -1);
}

static void test_durations(void)
{
    CHECK_INT_EQ(parse("30", &seconds), 30);
    CHECK_INT_EQ(parse("0", &seconds), 0);
    CHECK_INT_EQ(parse("2m", &seconds), 120);
    CHECK_INT_EQ(parse("1h", &seconds), 3600);
    CHECK_INT_EQ(parse("1d", &seconds), 86400);
    CHECK_INT_EQ(parse("3000ms", &seconds), 3);
    CHECK_INT_EQ(parse("1500ms", &seconds), -1); /* not a whole number of seconds */
    CHECK_INT_EQ(parse("3650d", &seconds), 315360000);
    CHECK_INT_EQ(parse("3651d", &seconds), -1);
    CHECK_INT_EQ(parse("50", &millis), 50);
    CHECK_INT_EQ(parse("2s", &millis), 2000);
    CHECK_INT_EQ(parse("2S", &millis), -1);
    CHECK_INT_EQ(parse("0", &millis), -1);
    CHECK_INT_EQ(parse("0s", &millis), -1);
    CHECK_INT_EQ(parse("1w", &millis), -1);
    CHECK_INT_EQ(parse("213503982335d", &millis), -1); /* the product overflows 64 bits */
}

static void test_sizes(void)
{
    CHECK_INT_EQ(parse("1024", &bytes), 1024);
    CHECK_INT_EQ(parse("1023", &bytes), -1);
    CHECK_INT_EQ(parse("64K", &bytes), 65536);
    CHECK_INT_EQ(parse("20m", &bytes), 20 << 20);
    CHECK_INT_EQ(parse("4G", &bytes), (long long)1 << 32);
    CHECK_INT_EQ(parse("5G", &bytes), -1);
    CHECK_INT_EQ(parse("64KB", &bytes), -1);
    CHECK_INT_EQ(parse("64", &mib), 64);
    CHECK_INT_EQ(parse("1G", &mib), 1024);
    CHECK_INT_EQ(parse("512K", &mib), -1); /* not a whole number of MiB */
}

typedef struct {
    uint64_t wide;
    uint32_t narrow;
    uint16_t small;
    int flag;
    char *name;
    int custom_calls;
} settings_t;

static int count_custom(h2o_configurator_command_t *cmd, yoml_t *value, void *settings)
{
    ++((settings_t *)settings)->custom_calls;
    return 0;
}

static const booka_config_key_t keys[] = {
    BOOKA_CONFIG_DURATION("wide", settings_t, wide, BOOKA_CONFIG_MS, 1, 3600000),
    BOOKA_CONFIG_COUNT("narrow", settings_t, narrow, 0, 1000000),
    BOOKA_CONFIG_SIZE("small", settings_t, small, BOOKA_CONFIG_BYTES, 0, 32767),
    BOOKA_CONFIG_FLAG("flag", settings_t, flag),
    BOOKA_CONFIG_STRING("name", settings_t, name),
    BOOKA_CONFIG_CUSTOM("custom", count_custom),
    BOOKA_CONFIG_ALIAS("old-wide", "wide"),
};

/* apply: loads `yaml` (a mapping) and applies it to *s; returns booka_config_apply's result. */
static int apply(const char *yaml, settings_t *s, yoml_t **given)
{
    char err[256];
    yoml_t *root = booka_yaml_load_string("t.conf", yaml, strlen(yaml), err, sizeof(err));
    int ret;

    if (root == NULL) {
        fprintf(stderr, "%s\n", err);
        return -2;
    }
    ret = booka_config_apply(NULL, root, keys, BOOKA_CONFIG_NKEYS(keys), s, given);
    yoml_free(root, NULL);
    return ret;
}

static void test_mapping(void)
{
    settings_t s = {.wide = 7};
    yoml_t *given[BOOKA_CONFIG_NKEYS(keys)];

    CHECK_INT_EQ(apply("narrow: 1000000\nsmall: 16K\nflag: ON\nname: x\nname2: y\n", &s, NULL), -1); /* unknown key */
    CHECK_INT_EQ(s.narrow, 1000000);
    CHECK_INT_EQ(apply("narrow: 5\nsmall: 1K\nflag: ON\nname: booka\ncustom: [anything]\n", &s, given), 0);
    CHECK_INT_EQ(s.wide, 7);
    CHECK_INT_EQ(s.narrow, 5);
    CHECK_INT_EQ(s.small, 1024);
    CHECK_INT_EQ(s.flag, 1);
    CHECK_STR_EQ(s.name, "booka");
    CHECK_INT_EQ(s.custom_calls, 1);
    CHECK(given[0] == NULL && given[1] != NULL && given[5] != NULL);
    CHECK_INT_EQ(apply("old-wide: 2s\n", &s, given), 0);
    CHECK_INT_EQ(s.wide, 2000);
    CHECK(given[0] != NULL);
    CHECK_INT_EQ(apply("wide: 1\nold-wide: 2\n", &s, NULL), -1); /* one key under two spellings */
    CHECK_INT_EQ(apply("narrow: 1\nnarrow: 2\n", &s, NULL), -1);
    CHECK_INT_EQ(apply("small: 32K\n", &s, NULL), -1);
    CHECK_INT_EQ(apply("flag: yes\n", &s, NULL), -1);
    CHECK_INT_EQ(apply("name: [a]\n", &s, NULL), -1);
    CHECK_INT_EQ(apply("narrow: {a: 1}\n", &s, NULL), -1);
    CHECK_INT_EQ(apply("[1, 2]\n", &s, NULL), -1);
    s.wide = 9;
    CHECK_INT_EQ(apply("wide: -1\n", &s, NULL), -1);
    CHECK_INT_EQ(s.wide, 9); /* a refused value writes nothing */
    free(s.name);
}

static void test_description_states_the_rule(void)
{
    char buf[256];
    CHECK_STR_EQ(booka_config_describe_number(&count, buf, sizeof(buf)), "a whole number from 1 to 256");
    CHECK(strstr(booka_config_describe_number(&seconds, buf, sizeof(buf)), "from 0 to 315360000 s") != NULL);
    CHECK(strstr(booka_config_describe_number(&mib, buf, sizeof(buf)), "from 1 to 65536 MiB") != NULL);
}

int main(void)
{
    test_numbers_are_digits_in_range();
    test_durations();
    test_sizes();
    test_mapping();
    test_description_states_the_rule();
    return unit_report("config_table");
}
