/* client.h: the client's address behind trusted proxies (Fly's proxy, Cloudflare), for the access log and anything that
 * is per client. */
#ifndef BOOKA_HTTP_CLIENT_H
#define BOOKA_HTTP_CLIENT_H

#include <netinet/in.h>
#include "h2o.h"
#include "h2o/configurator.h"

#define BOOKA_CLIENT_ADDRESS_MAX INET6_ADDRSTRLEN
#define BOOKA_CLIENT_ADDRESS_ENV "booka-client-ip"

/* booka_cidr_t: one address block; IPv4 blocks are kept as IPv4 (family AF_INET). */
typedef struct {
    int family;
    uint8_t addr[16];
    unsigned prefix;
} booka_cidr_t;

/* booka_cidr_parse: "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or /128). Host bits beyond the prefix
 * must be zero. Returns 0, or -1 when `s` is not such a block. */
int booka_cidr_parse(const char *s, booka_cidr_t *out);

/* booka_cidr_contains: whether address `addr` of `family` (4 or 16 bytes) is inside `cidr`. */
int booka_cidr_contains(const booka_cidr_t *cidr, int family, const void *addr);

/* booka_client_address_from: the client's address given the socket peer (`family`/`addr`) and a header lookup: walking
 * from the peer outwards, while the current address is a trusted proxy, the next configured header (nearest hop first;
 * default Fly-Client-IP, then CF-Connecting-IP) names the next address. A header that is absent, repeated or not one
 * IPv4/IPv6 address ends the walk. Writes the textual address (NUL-terminated) into `buf` and returns its length. */
size_t booka_client_address_from(int family, const void *addr, h2o_iovec_t (*header)(void *ctx, const char *name), void *ctx,
                                 char *buf);

/* booka_client_address: the same for a request (its connection's peer, its headers); 0 when the peer is unknown. */
size_t booka_client_address(h2o_req_t *req, char *buf);

/* booka_client_register_configurator: `booka.trusted-proxies` (global), and on every path the access log's
 * %{booka-client-ip}e (set before any access-log logger runs). */
void booka_client_register_configurator(h2o_globalconf_t *conf);

#endif
