/* address_test.c: plugin/avatar/address.c: which addresses a picture fetch may reach (public only, unless fetch-allow says
 * more), IPv4 inside IPv6 judged as IPv4, never a UNIX socket. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/un.h>
#include "unit.h"
#include "avatar/internal.h"

/* to_sockaddr: a textual IPv4 or IPv6 address as a socket address. */
static struct sockaddr_storage to_sockaddr(const char *text)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
    } else {
        CHECK(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1);
        ss.ss_family = AF_INET6;
    }
    return ss;
}

static int allowed(const avatar_config_t *conf, const char *text)
{
    struct sockaddr_storage ss = to_sockaddr(text);
    return avatar_address_allowed(conf, (struct sockaddr *)&ss);
}

static void test_not_public(void)
{
    static const char *const refused[] = {
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.1.2.3",
        "169.254.169.254", /* the cloud metadata service */
        "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255",
        "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "::", "::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a00:1",
        "64:ff9b:1::1", "2002:7f00:1::1", "2002:a00:1::", "100::1", "2001::1", "2001:db8::1", "fc00::1", "fd12:3456::1", "fe80::1",
        "febf::1", "fec0::1", "ff02::1", "ff0e::1",
        /* all of ::/96 is IPv4-compatible: 0.0.0.x is "this network" */
        "::2", "::ff", "::1:0", "::10.0.0.1",
        /* SIIT IPv4-translated ::ffff:0:0:0/96 carries IPv4 too */
        "::ffff:0:127.0.0.1", "::ffff:0:169.254.169.254", "::ffff:0:a00:1",
        /* documentation (RFC 9637), inside 2000::/3 */
        "3fff::1", "3fff:fff:ffff::1",
        /* outside 2000::/3, the only global unicast space: SRv6 SIDs (RFC 9602), the
         * dummy prefix (RFC 9780), unallocated space */
        "5f00::1", "100:0:0:1::1", "4000::1", "8000::1", "1::1", "e000::1"};
    avatar_config_t conf;

    memset(&conf, 0, sizeof(conf));
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i) {
        if (allowed(&conf, refused[i]))
            fprintf(stderr, "allowed: %s\n", refused[i]);
        CHECK(!allowed(&conf, refused[i]));
    }
}

static void test_public(void)
{
    static const char *const ok[] = {"1.1.1.1",          "8.8.8.8",         "9.255.255.255",        "11.0.0.1",
                                     "100.63.255.255",   "100.128.0.1",     "172.15.255.255",       "172.32.0.1",
                                     "192.167.255.255",  "192.169.0.1",     "198.17.255.255",       "198.20.0.1",
                                     "223.255.255.255",  "2606:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8",
                                     "64:ff9b::808:808", "2002:808:808::1", "::ffff:0:8.8.8.8",     "::8.8.8.8",
                                     "3000::1",          "3ffe::1",         "3fff:1000::1",         "2c0f:f248::1"};
    avatar_config_t conf;

    memset(&conf, 0, sizeof(conf));
    for (size_t i = 0; i != sizeof(ok) / sizeof(ok[0]); ++i) {
        if (!allowed(&conf, ok[i]))
            fprintf(stderr, "refused: %s\n", ok[i]);
        CHECK(allowed(&conf, ok[i]));
    }
}

/* test_allow_list: fetch-allow opens exactly its blocks */
static void test_allow_list(void)
{
    booka_cidr_t blocks[2];
    avatar_config_t conf;

    memset(&conf, 0, sizeof(conf));
    CHECK(booka_cidr_parse("10.1.0.0/16", &blocks[0]) == 0);
    CHECK(booka_cidr_parse("fd00::/8", &blocks[1]) == 0);
    conf.fetch_allow.entries = blocks;
    conf.fetch_allow.size = 2;
    CHECK(allowed(&conf, "10.1.2.3"));
    CHECK(!allowed(&conf, "10.2.0.1"));
    CHECK(allowed(&conf, "::ffff:10.1.2.3")); /* the same address, IPv4-mapped */
    CHECK(allowed(&conf, "fd00::5"));
    CHECK(!allowed(&conf, "fc00::5"));
    CHECK(!allowed(&conf, "127.0.0.1"));
    CHECK(allowed(&conf, "8.8.8.8"));
}

static void test_unix_socket(void)
{
    struct sockaddr_un sun;
    booka_cidr_t all;
    avatar_config_t conf;

    memset(&conf, 0, sizeof(conf));
    CHECK(booka_cidr_parse("0.0.0.0/0", &all) == 0);
    conf.fetch_allow.entries = &all;
    conf.fetch_allow.size = 1;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, "/tmp/x.sock");
    CHECK(!avatar_address_allowed(&conf, (struct sockaddr *)&sun));
    CHECK(allowed(&conf, "127.0.0.1")); /* 0.0.0.0/0 allows every IPv4 address */
}

int main(void)
{
    test_not_public();
    test_public();
    test_allow_list();
    test_unix_socket();
    return unit_report("address");
}
