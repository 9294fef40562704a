/* client.c: the client's address behind trusted proxies, and the access log's %{booka-client-ip}e. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "config/table.h"
#include "http/client.h"

#define MAX_HEADERS 4

/* Process-wide, written only while the configuration is applied. */
static struct {
    H2O_VECTOR(booka_cidr_t) proxies;
    const char *headers[MAX_HEADERS]; /* lower-case names, nearest hop first */
    size_t num_headers;
} settings = {.headers = {"fly-client-ip", "cf-connecting-ip"}, .num_headers = 2};

/* parse_address: one textual IPv4 or IPv6 address (an IPv4-mapped IPv6 one becomes IPv4); returns its family or 0. */
static int parse_address(const char *s, uint8_t *addr)
{
    if (inet_pton(AF_INET, s, addr) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, s, addr) != 1)
        return 0;
    if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)addr)) {
        memmove(addr, addr + 12, 4);
        return AF_INET;
    }
    return AF_INET6;
}

int booka_cidr_parse(const char *s, booka_cidr_t *out)
{
    char text[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
    unsigned bits;
    uint64_t prefix;
    static const booka_config_number_t prefix_rule = {BOOKA_CONFIG_KIND_COUNT, 1, 0, 128};

    if (len == 0 || len >= sizeof(text))
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    *out = (booka_cidr_t){0};
    if ((out->family = parse_address(text, out->addr)) == 0)
        return -1;
    bits = out->family == AF_INET ? 32 : 128;
    if (slash == NULL)
        prefix = bits;
    else if (booka_config_parse_number(slash + 1, &prefix_rule, &prefix) != 0 || prefix > bits)
        return -1;
    out->prefix = (unsigned)prefix;
    for (unsigned i = out->prefix; i != bits; ++i)
        if (out->addr[i / 8] & (0x80 >> (i % 8)))
            return -1; /* host bits set: most likely a typo in the prefix */
    return 0;
}

int booka_cidr_contains(const booka_cidr_t *cidr, int family, const void *addr)
{
    const uint8_t *a = addr;
    unsigned full = cidr->prefix / 8, rest = cidr->prefix % 8;

    if (family != cidr->family || memcmp(a, cidr->addr, full) != 0)
        return 0;
    return rest == 0 || ((a[full] ^ cidr->addr[full]) & (0xff00 >> rest)) == 0;
}

static int is_trusted(int family, const uint8_t *addr)
{
    for (size_t i = 0; i != settings.proxies.size; ++i)
        if (booka_cidr_contains(settings.proxies.entries + i, family, addr))
            return 1;
    return 0;
}

/* parse_header_address: a header value that is exactly one address (optional white space around it); 0 otherwise. */
static int parse_header_address(h2o_iovec_t v, uint8_t *addr)
{
    char text[INET6_ADDRSTRLEN];

    while (v.len != 0 && (v.base[0] == ' ' || v.base[0] == '\t'))
        ++v.base, --v.len;
    while (v.len != 0 && (v.base[v.len - 1] == ' ' || v.base[v.len - 1] == '\t'))
        --v.len;
    if (v.len == 0 || v.len >= sizeof(text))
        return 0;
    memcpy(text, v.base, v.len);
    text[v.len] = '\0';
    return parse_address(text, addr);
}

/* format_ipv4: dotted decimal into buf (NUL-terminated), its length. By hand rather than inet_ntop, whose sprintf was
 * 3% of a list HIT's CPU: every request's access-log entry formats its client's address (perf, issue 15). */
static size_t format_ipv4(const uint8_t *addr, char *buf)
{
    char *p = buf;
    for (int i = 0; i != 4; ++i) {
        unsigned v = addr[i];
        if (i != 0)
            *p++ = '.';
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
    }
    *p = '\0';
    return (size_t)(p - buf);
}

size_t booka_client_address_from(int family, const void *peer, h2o_iovec_t (*header)(void *ctx, const char *name), void *ctx,
                                 char *buf)
{
    uint8_t addr[16], next[16];
    int next_family;

    memcpy(addr, peer, family == AF_INET ? 4 : 16);
    if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)addr)) {
        memmove(addr, addr + 12, 4);
        family = AF_INET;
    }
    for (size_t i = 0; i != settings.num_headers && is_trusted(family, addr); ++i) {
        h2o_iovec_t v = header(ctx, settings.headers[i]);
        if (v.base == NULL || (next_family = parse_header_address(v, next)) == 0)
            break;
        family = next_family;
        memcpy(addr, next, sizeof(addr));
    }
    if (family == AF_INET)
        return format_ipv4(addr, buf);
    if (inet_ntop(family, addr, buf, BOOKA_CLIENT_ADDRESS_MAX) == NULL)
        return 0;
    return strlen(buf);
}

/* request_header: the value of the one `name` header of the request; base NULL when absent or given more than once. */
static h2o_iovec_t request_header(void *ctx, const char *name)
{
    h2o_req_t *req = ctx;
    size_t len = strlen(name);
    ssize_t at = h2o_find_header_by_str(&req->headers, name, len, -1);

    if (at == -1 || h2o_find_header_by_str(&req->headers, name, len, at) != -1)
        return h2o_iovec_init(NULL, 0);
    return req->headers.entries[at].value;
}

size_t booka_client_address(h2o_req_t *req, char *buf)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (req->conn->callbacks->get_peername == NULL || (len = req->conn->callbacks->get_peername(req->conn, (void *)&ss)) == 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return booka_client_address_from(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, request_header, req, buf);
    if (ss.ss_family == AF_INET6)
        return booka_client_address_from(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, request_header, req, buf);
    return 0;
}

/* ---- the access log ---- */

static void on_log_access(h2o_logger_t *self, h2o_req_t *req)
{
    char *buf = h2o_mem_alloc_pool(&req->pool, BOOKA_CLIENT_ADDRESS_MAX);
    size_t len = booka_client_address(req, buf);

    if (len != 0)
        *h2o_req_getenv(req, H2O_STRLIT(BOOKA_CLIENT_ADDRESS_ENV), 1) = h2o_iovec_init(buf, len);
}

/* on_config_exit: every path gets a logger that sets %{booka-client-ip}e, placed first so the access-log loggers (which
 * run in the order of the vector) see it whatever the order the configurators were registered in. */
static int on_config_exit(h2o_configurator_t *self, h2o_configurator_context_t *ctx, yoml_t *node)
{
    h2o_pathconf_t *pathconf = ctx->pathconf;
    h2o_logger_t *logger;

    if (pathconf == NULL)
        return 0;
    logger = h2o_create_logger(pathconf, sizeof(*logger));
    logger->log_access = on_log_access;
    memmove(pathconf->loggers.entries + 1, pathconf->loggers.entries, (pathconf->loggers.size - 1) * sizeof(logger));
    pathconf->loggers.entries[0] = logger;
    return 0;
}

/* ---- booka.trusted-proxies ---- */

static int add_proxies(h2o_configurator_command_t *cmd, yoml_t *node, void *unused)
{
    yoml_t **items = node->type == YOML_TYPE_SEQUENCE ? node->data.sequence.elements : &node;
    size_t n = node->type == YOML_TYPE_SEQUENCE ? node->data.sequence.size : 1;

    for (size_t i = 0; i != n; ++i) {
        booka_cidr_t cidr;
        if (items[i]->type != YOML_TYPE_SCALAR || booka_cidr_parse(items[i]->data.scalar, &cidr) != 0) {
            h2o_configurator_errprintf(cmd, items[i],
                                       "expected an address block such as 10.0.0.0/8, 2001:db8::/32 or 192.0.2.7 (no host bits "
                                       "beyond the prefix)");
            return -1;
        }
        h2o_vector_reserve(NULL, &settings.proxies, settings.proxies.size + 1);
        settings.proxies.entries[settings.proxies.size++] = cidr;
    }
    return 0;
}

/* set_headers: the headers trusted proxies set, nearest hop first; names are lower-cased (HTTP/2 sends them so). */
static int set_headers(h2o_configurator_command_t *cmd, yoml_t *node, void *unused)
{
    yoml_t **items = node->type == YOML_TYPE_SEQUENCE ? node->data.sequence.elements : &node;
    size_t n = node->type == YOML_TYPE_SEQUENCE ? node->data.sequence.size : 1;

    if (n == 0 || n > MAX_HEADERS) {
        h2o_configurator_errprintf(cmd, node, "expected 1 to %d header names", MAX_HEADERS);
        return -1;
    }
    for (size_t i = 0; i != n; ++i) {
        const char *s = items[i]->type == YOML_TYPE_SCALAR ? items[i]->data.scalar : "";
        char *name;
        if (s[0] == '\0' || s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")] != '\0') {
            h2o_configurator_errprintf(cmd, items[i], "expected a header name such as CF-Connecting-IP");
            return -1;
        }
        name = h2o_strdup(NULL, s, SIZE_MAX).base;
        for (char *p = name; *p != '\0'; ++p)
            *p = (char)tolower((unsigned char)*p);
        settings.headers[i] = name;
    }
    settings.num_headers = n;
    return 0;
}

static const booka_config_key_t trusted_proxy_keys[] = {
    BOOKA_CONFIG_CUSTOM("addresses", add_proxies),
    BOOKA_CONFIG_CUSTOM("headers", set_headers),
};

/* on_config_trusted_proxies: address blocks (one, or a list), or a mapping of trusted_proxy_keys. */
static int on_config_trusted_proxies(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    settings.proxies.size = 0;
    if (node->type != YOML_TYPE_MAPPING)
        return add_proxies(cmd, node, NULL);
    return booka_config_apply(cmd, node, trusted_proxy_keys, BOOKA_CONFIG_NKEYS(trusted_proxy_keys), NULL, NULL);
}

void booka_client_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));

    c->exit = on_config_exit;
    h2o_configurator_define_command(c, "booka.trusted-proxies",
                                    H2O_CONFIGURATOR_FLAG_GLOBAL | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR |
                                        H2O_CONFIGURATOR_FLAG_EXPECT_SEQUENCE | H2O_CONFIGURATOR_FLAG_EXPECT_MAPPING,
                                    on_config_trusted_proxies);
}
