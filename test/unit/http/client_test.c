/* client_test.c: address blocks for booka.trusted-proxies (parse, contain) and the walk with nothing trusted. */
#include <arpa/inet.h>
#include "unit.h"
#include "http/client.h"

static int parses(const char *s)
{
    booka_cidr_t c;
    return booka_cidr_parse(s, &c) == 0;
}

static int contains(const char *cidr, const char *addr)
{
    booka_cidr_t c;
    uint8_t a[16];
    int family = inet_pton(AF_INET, addr, a) == 1 ? AF_INET : AF_INET6;
    if (booka_cidr_parse(cidr, &c) != 0 || (family == AF_INET6 && inet_pton(AF_INET6, addr, a) != 1))
        return -1;
    return booka_cidr_contains(&c, family, a);
}

static void test_parse(void)
{
    CHECK(parses("10.0.0.0/8"));
    CHECK(parses("192.0.2.7"));
    CHECK(parses("0.0.0.0/0"));
    CHECK(parses("2001:db8::/32"));
    CHECK(parses("::1"));
    CHECK(parses("::ffff:10.0.0.0/8")); /* IPv4-mapped: kept as IPv4 */
    CHECK(!parses("10.0.0.1/8"));       /* host bits set */
    CHECK(!parses("10.0.0.0/33"));
    CHECK(!parses("10.0.0.0/-1"));
    CHECK(!parses("10.0.0.0/8x"));
    CHECK(!parses("10.0.0.0/"));
    CHECK(!parses("/8"));
    CHECK(!parses("10.0.0/8"));
    CHECK(!parses("example.com"));
    CHECK(!parses("2001:db8::/129"));
    CHECK(!parses(""));
}

static void test_contains(void)
{
    CHECK_INT_EQ(contains("10.0.0.0/8", "10.255.1.2"), 1);
    CHECK_INT_EQ(contains("10.0.0.0/8", "11.0.0.1"), 0);
    CHECK_INT_EQ(contains("172.16.0.0/12", "172.31.255.255"), 1);
    CHECK_INT_EQ(contains("172.16.0.0/12", "172.32.0.0"), 0);
    CHECK_INT_EQ(contains("192.0.2.7", "192.0.2.7"), 1);
    CHECK_INT_EQ(contains("192.0.2.7", "192.0.2.8"), 0);
    CHECK_INT_EQ(contains("0.0.0.0/0", "8.8.8.8"), 1);
    CHECK_INT_EQ(contains("0.0.0.0/0", "::1"), 0); /* families never mix */
    CHECK_INT_EQ(contains("2001:db8::/32", "2001:db8:ffff::1"), 1);
    CHECK_INT_EQ(contains("2001:db8::/33", "2001:db8:8000::1"), 0);
    CHECK_INT_EQ(contains("fdaa::/16", "fdaa:0:1::2"), 1);
}

static h2o_iovec_t forged(void *ctx, const char *name)
{
    return h2o_iovec_init(H2O_STRLIT("198.51.100.7"));
}

static void test_untrusted_peer_keeps_its_address(void)
{
    char buf[BOOKA_CLIENT_ADDRESS_MAX];
    uint8_t peer[16];
    inet_pton(AF_INET, "203.0.113.5", peer);
    CHECK_INT_EQ(booka_client_address_from(AF_INET, peer, forged, NULL, buf), strlen("203.0.113.5"));
    CHECK_STR_EQ(buf, "203.0.113.5");
    inet_pton(AF_INET6, "::ffff:203.0.113.5", peer);
    booka_client_address_from(AF_INET6, peer, forged, NULL, buf);
    CHECK_STR_EQ(buf, "203.0.113.5");
}

/* the IPv4 formatter (hand-written for speed) agrees with inet_ntop on every digit count, both ends included */
static void test_ipv4_text(void)
{
    static const char *const samples[] = {"0.0.0.0", "255.255.255.255", "1.22.103.9", "10.0.99.100", "192.168.1.254"};
    char buf[BOOKA_CLIENT_ADDRESS_MAX], want[INET_ADDRSTRLEN];
    uint8_t peer[16];

    for (size_t i = 0; i != sizeof(samples) / sizeof(samples[0]); ++i) {
        inet_pton(AF_INET, samples[i], peer);
        inet_ntop(AF_INET, peer, want, sizeof(want));
        CHECK_INT_EQ(booka_client_address_from(AF_INET, peer, forged, NULL, buf), strlen(want));
        CHECK_STR_EQ(buf, want);
    }
    for (unsigned v = 0; v != 256; ++v) {
        peer[0] = peer[3] = (uint8_t)v, peer[1] = peer[2] = (uint8_t)(255 - v);
        inet_ntop(AF_INET, peer, want, sizeof(want));
        booka_client_address_from(AF_INET, peer, forged, NULL, buf);
        CHECK_STR_EQ(buf, want);
    }
}

int main(void)
{
    test_parse();
    test_ipv4_text();
    test_contains();
    test_untrusted_peer_keeps_its_address();
    return unit_report("http_client");
}
