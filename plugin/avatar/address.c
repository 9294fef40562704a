/* address.c: which addresses a picture fetch may connect to (see internal.h, "the source's address"). A stored picture URL
 * is data nobody vetted: by default it may only reach the public internet, never this machine, its private network, a
 * link-local metadata service or a multicast group. `fetch-allow` names blocks that are allowed anyway (a media server on
 * the private network). The blocks below are IANA's special-purpose registries (RFC 6890 and its updates) minus the ones
 * that are globally reachable; IPv6 is public only inside 2000::/3, and IPv4 carried inside IPv6 (IPv4-compatible, mapped,
 * SIIT-translated, NAT64, 6to4) is judged as IPv4. */
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "avatar/internal.h"

static const char *const not_public_v4[] = {
    "0.0.0.0/8",       /* "this network" */
    "10.0.0.0/8",      /* private */
    "100.64.0.0/10",   /* shared address space (carrier-grade NAT) */
    "127.0.0.0/8",     /* loopback */
    "169.254.0.0/16",  /* link-local (cloud metadata services live here) */
    "172.16.0.0/12",   /* private */
    "192.0.0.0/24",    /* IETF protocol assignments */
    "192.0.2.0/24",    /* documentation */
    "192.88.99.0/24",  /* 6to4 relay anycast (deprecated) */
    "192.168.0.0/16",  /* private */
    "198.18.0.0/15",   /* benchmarking */
    "198.51.100.0/24", /* documentation */
    "203.0.113.0/24",  /* documentation */
    "224.0.0.0/4",     /* multicast */
    "240.0.0.0/4",     /* reserved, and the limited broadcast address */
};

/* Global unicast space is 2000::/3 (IANA's IPv6 address space registry); everything outside it is not public (loopback,
 * unspecified, discard-only 100::/64, unique-local fc00::/7, link-local fe80::/10, multicast ff00::/8, SRv6 SIDs 5f00::/16,
 * the dummy prefix 100:0:0:1::/64, unallocated space), once the IPv4 carried inside IPv6 has been judged (embedded_v4).
 * These are the special-purpose blocks inside 2000::/3. */
static const char *const not_public_v6[] = {
    "2001::/23",     /* IETF protocol assignments (Teredo among them) */
    "2001:db8::/32", /* documentation */
    "3fff::/20",     /* documentation (RFC 9637) */
};

/* embedded_v4: the IPv4 address an IPv6 address carries, written to `v4`; 0 when it carries none. All of ::/96
 * (IPv4-compatible; :: and ::1 become 0.0.0.0 and 0.0.0.1, "this network"), IPv4-mapped ::ffff:0:0/96, SIIT's
 * IPv4-translated ::ffff:0:0:0/96, NAT64 64:ff9b::/96 (local-use 64:ff9b:1::/48 is not public: outside 2000::/3) and 6to4
 * 2002::/16. */
static int embedded_v4(const uint8_t *a, uint8_t *v4)
{
    static const uint8_t compatible[12] = {0}, mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
                         translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0},
                         nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

    if (memcmp(a, compatible, 12) == 0 || memcmp(a, mapped, 12) == 0 || memcmp(a, translated, 12) == 0 ||
        memcmp(a, nat64, 12) == 0) {
        memcpy(v4, a + 12, 4);
        return 1;
    }
    if (a[0] == 0x20 && a[1] == 0x02) {
        memcpy(v4, a + 2, 4);
        return 1;
    }
    return 0;
}

/* in_blocks: whether the address is inside one of the blocks written in `blocks` (parsed on each call: a handful of
 * short strings per fetch is cheaper than anything that would have to be set up and freed). */
static int in_blocks(const char *const *blocks, size_t n, int family, const uint8_t *addr)
{
    booka_cidr_t cidr;

    for (size_t i = 0; i != n; ++i)
        if (booka_cidr_parse(blocks[i], &cidr) == 0 && booka_cidr_contains(&cidr, family, addr))
            return 1;
    return 0;
}

int avatar_address_is_public(int family, const uint8_t *addr)
{
    uint8_t v4[4];

    if (family == AF_INET)
        return !in_blocks(not_public_v4, sizeof(not_public_v4) / sizeof(not_public_v4[0]), AF_INET, addr);
    if (family != AF_INET6)
        return 0;
    if (embedded_v4(addr, v4))
        return avatar_address_is_public(AF_INET, v4);
    if ((addr[0] & 0xe0) != 0x20) /* outside 2000::/3 */
        return 0;
    return !in_blocks(not_public_v6, sizeof(not_public_v6) / sizeof(not_public_v6[0]), AF_INET6, addr);
}

int avatar_address_allowed(const avatar_config_t *conf, const struct sockaddr *sa)
{
    int family = sa->sa_family;
    const uint8_t *addr;

    if (family == AF_INET)
        addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    else if (family == AF_INET6)
        addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    else
        return 0; /* UNIX sockets and anything else: never */
    if (family == AF_INET6 && memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
        family = AF_INET; /* an IPv4-mapped address reaches that IPv4 address: fetch-allow judges it as such */
        addr += 12;
    }
    for (size_t i = 0; i != conf->fetch_allow.size; ++i)
        if (booka_cidr_contains(conf->fetch_allow.entries + i, family, addr))
            return 1;
    return avatar_address_is_public(family, addr);
}
