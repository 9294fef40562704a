/* configurator.c: `booka.edge`, the cache tags responses carry and where purges go (plugin/edge/README.md). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "h2o.h"
#include "h2o/configurator.h"
#include "cache/invalidate.h"
#include "config/table.h"
#include "edge/internal.h"

#define CLOUDFLARE_API "https://api.cloudflare.com/client/v4"
#define CLOUDFLARE_ZONE_ENV "CLOUDFLARE_ZONE_ID"
#define CLOUDFLARE_TOKEN_ENV "CLOUDFLARE_API_TOKEN"

edge_settings_t edge_settings = {.prefix = "booka-", .prefix_len = 6, .batch_delay_ms = 50, .claim_ttl_s = 300};

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

/* scan_number: a whole number in [min, max] from a scalar node, else an error at the node (the shared reader's rules and
 * message: plugin/config/table.h). */
static int scan_number(h2o_configurator_command_t *cmd, yoml_t *node, uint64_t min, uint64_t max, uint64_t *out)
{
    booka_config_number_t rule = {.kind = BOOKA_CONFIG_KIND_COUNT, .unit = 1, .min = min, .max = max};

    return booka_config_scan_number(cmd, node, &rule, out);
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

/* target_new: a target of `kind` with its defaults, appended to the settings. */
static edge_target_conf_t *target_new(edge_kind_t kind)
{
    edge_target_conf_t *t;

    h2o_vector_reserve(NULL, &edge_settings.targets, edge_settings.targets.size + 1);
    t = edge_settings.targets.entries + edge_settings.targets.size++;
    if (kind == EDGE_VARNISH)
        *t = (edge_target_conf_t){.kind = kind,
                                  .kind_name = "varnish",
                                  .timeout_ms = 5000,
                                  .max_tags = 100,
                                  .max_bytes = 4096,
                                  .max_attempts = 8,
                                  .burst = 1};
    else /* Cloudflare's documented limits: 100 tags a request; Free plan: 5 requests a minute, a bucket of 25 */
        *t = (edge_target_conf_t){.kind = kind,
                                  .kind_name = "cloudflare",
                                  .timeout_ms = 10000,
                                  .max_tags = 100,
                                  .max_bytes = 64 * 1024,
                                  .max_attempts = 8,
                                  .per_minute = 5,
                                  .burst = 25};
    t->stats = h2o_mem_alloc(sizeof(*t->stats));
    *t->stats = (edge_target_stats_t){0};
    return t;
}

/* scan_limits: the keys every target takes: timeout (ms), max-tags, max-attempts, requests-per-minute (0: no limit),
 * burst. `max_tags` bounds max-tags (Cloudflare takes 100 a request). */
static int scan_limits(h2o_configurator_command_t *cmd, yoml_t *node, edge_target_conf_t *t, uint64_t max_tags)
{
    yoml_t *v;
    uint64_t n;

    if ((v = yoml_get(node, "timeout")) != NULL) {
        if (scan_number(cmd, v, 100, 600000, &n) != 0)
            return -1;
        t->timeout_ms = n;
    }
    if ((v = yoml_get(node, "max-tags")) != NULL) {
        if (scan_number(cmd, v, 1, max_tags, &n) != 0)
            return -1;
        t->max_tags = n;
    }
    if ((v = yoml_get(node, "max-attempts")) != NULL) {
        if (scan_number(cmd, v, 1, 100, &n) != 0)
            return -1;
        t->max_attempts = (unsigned)n;
    }
    if ((v = yoml_get(node, "requests-per-minute")) != NULL) {
        if (scan_number(cmd, v, 0, 1000000, &n) != 0)
            return -1;
        t->per_minute = (double)n;
    }
    if ((v = yoml_get(node, "burst")) != NULL) {
        if (scan_number(cmd, v, 1, 100000, &n) != 0)
            return -1;
        t->burst = (double)n;
    }
    return 0;
}

/* set_url: parses `url` (kept for the process: the parsed parts point into it) with one of the allowed schemes. */
static int set_url(h2o_configurator_command_t *cmd, yoml_t *node, edge_target_conf_t *t, const char *url, int https_only)
{
    char *copy = h2o_strdup(NULL, url, SIZE_MAX).base;

    if (h2o_url_parse(copy, SIZE_MAX, &t->url) != 0 || t->url.host.len == 0 ||
        (https_only && t->url.scheme != &H2O_URL_SCHEME_HTTPS) || (!https_only && t->url.scheme != &H2O_URL_SCHEME_HTTP) ||
        strpbrk(copy, " \r\n\t") != NULL) {
        h2o_configurator_errprintf(cmd, node, "expected an %s URL",
                                   https_only ? "https://host[:port]/path" : "http://host[:port]/");
        free(copy);
        return -1;
    }
    t->endpoint = h2o_strdup(NULL, t->url.authority.base, t->url.authority.len).base;
    return 0;
}

static int add_varnish_server(h2o_configurator_command_t *cmd, yoml_t *node, void *limits)
{
    edge_target_conf_t *t = target_new(EDGE_VARNISH);

    if (set_url(cmd, node, t, node->data.scalar, 0) != 0)
        return -1;
    t->path = h2o_strdup(NULL, t->url.path.len != 0 ? t->url.path.base : "/", t->url.path.len != 0 ? t->url.path.len : 1).base;
    return limits != NULL ? scan_limits(cmd, limits, t, 10000) : 0;
}

/* on_varnish: `varnish: URL`, a list of URLs, or {servers: URL or list, timeout, max-tags, max-attempts,
 * requests-per-minute, burst}: one target per server. */
static int on_varnish(h2o_configurator_command_t *cmd, yoml_t *node)
{
    yoml_t *servers = node;

    if (node->type == YOML_TYPE_MAPPING) {
        if (check_keys(cmd, node, "servers,timeout,max-tags,max-attempts,requests-per-minute,burst") != 0)
            return -1;
        if ((servers = yoml_get(node, "servers")) == NULL) {
            h2o_configurator_errprintf(cmd, node, "expected `servers: [http://host:port/, ...]`");
            return -1;
        }
    }
    return scan_string_or_list(cmd, servers, "a Varnish URL (http://host:port/)", add_varnish_server,
                               node->type == YOML_TYPE_MAPPING ? node : NULL);
}

/* env_value: the environment variable `name`, checked to be 1..max bytes of `allowed` (NULL: any visible ASCII). */
static const char *env_value(h2o_configurator_command_t *cmd, yoml_t *node, const char *name, size_t max, const char *allowed)
{
    const char *v = getenv(name);
    size_t len = v != NULL ? strlen(v) : 0;
    int ok = len != 0 && len <= max;

    for (size_t i = 0; ok && i != len; ++i)
        ok = allowed != NULL ? strchr(allowed, v[i]) != NULL : v[i] > 0x20 && v[i] < 0x7f;
    if (!ok) {
        h2o_configurator_errprintf(cmd, node, "Cloudflare purging needs the environment variable %s (%s)", name,
                                   len == 0 ? "not set" : "malformed");
        return NULL;
    }
    return v;
}

/* cloudflare_ssl_ctx: TLS to the API: TLS 1.2 or later, the peer verified against `ca_file` (or the system's store) and
 * its certificate checked for the API's host name (OpenSSL's own check: libh2o 2.2's client does not do it). */
static SSL_CTX *cloudflare_ssl_ctx(h2o_configurator_command_t *cmd, yoml_t *node, const char *ca_file, h2o_iovec_t host)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_VERIFY_PARAM *param;
    char name[256], addr[16];
    int ok;

    if (ctx == NULL || host.len >= sizeof(name)) {
        h2o_configurator_errprintf(cmd, node, "cannot set up TLS for the Cloudflare API");
        goto Error;
    }
    memcpy(name, host.base, host.len);
    name[host.len] = '\0';
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if ((ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        h2o_configurator_errprintf(cmd, node, "cannot load the certificate authorities%s%s", ca_file != NULL ? " of " : "",
                                   ca_file != NULL ? ca_file : "");
        goto Error;
    }
    param = SSL_CTX_get0_param(ctx);
    if (inet_pton(AF_INET, name, addr) == 1)
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, name);
    else
        ok = X509_VERIFY_PARAM_set1_host(param, name, 0);
    if (ok != 1) {
        h2o_configurator_errprintf(cmd, node, "cannot check certificates for the host %s", name);
        goto Error;
    }
    return ctx;
Error:
    if (ctx != NULL)
        SSL_CTX_free(ctx);
    return NULL;
}

/* on_cloudflare: `cloudflare: ON`, or {api, ca-file, timeout, max-tags, max-attempts, requests-per-minute, burst}; the
 * zone id and API token come from CLOUDFLARE_ZONE_ID and CLOUDFLARE_API_TOKEN (containers need no templating, and the
 * token stays out of the configuration file). */
static int on_cloudflare(h2o_configurator_command_t *cmd, yoml_t *node)
{
    const char *api = CLOUDFLARE_API, *ca_file = NULL, *zone, *token;
    edge_target_conf_t *t;
    yoml_t *v;
    char *s;
    size_t base_len;

    if (node->type == YOML_TYPE_SCALAR) {
        ssize_t on = h2o_configurator_get_one_of(cmd, node, "OFF,ON");
        if (on <= 0)
            return (int)on;
    } else if (node->type == YOML_TYPE_MAPPING) {
        if (check_keys(cmd, node, "api,ca-file,timeout,max-tags,max-attempts,requests-per-minute,burst") != 0)
            return -1;
        if ((v = yoml_get(node, "api")) != NULL)
            api = v->type == YOML_TYPE_SCALAR ? v->data.scalar : "";
        if ((v = yoml_get(node, "ca-file")) != NULL)
            ca_file = v->type == YOML_TYPE_SCALAR ? v->data.scalar : "";
    } else {
        h2o_configurator_errprintf(cmd, node, "expected ON, OFF or a mapping");
        return -1;
    }
    if ((zone = env_value(cmd, node, CLOUDFLARE_ZONE_ENV, 64, "0123456789abcdefABCDEF")) == NULL ||
        (token = env_value(cmd, node, CLOUDFLARE_TOKEN_ENV, 1024, NULL)) == NULL)
        return -1;
    t = target_new(EDGE_CLOUDFLARE);
    if (set_url(cmd, (v = yoml_get(node, "api")) != NULL ? v : node, t, api, 1) != 0 ||
        (node->type == YOML_TYPE_MAPPING && scan_limits(cmd, node, t, 100) != 0))
        return -1;
    if ((t->ssl_ctx = cloudflare_ssl_ctx(cmd, node, ca_file, t->url.host)) == NULL)
        return -1;
    base_len = t->url.path.len;
    while (base_len != 0 && t->url.path.base[base_len - 1] == '/')
        --base_len;
    s = h2o_mem_alloc(base_len + strlen(zone) + 32);
    sprintf(s, "%.*s/zones/%s/purge_cache", (int)base_len, t->url.path.base, zone);
    t->path = s;
    s = h2o_mem_alloc(strlen(token) + 8);
    sprintf(s, "Bearer %s", token);
    t->authorization = s;
    return 0;
}

/* on_config_edge: the mapping of `booka.edge` (every key in plugin/edge/README.md). */
static int on_config_edge(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    unsigned headers = 0;
    uint64_t n;
    yoml_t *v;

    if (check_keys(cmd, node, "tag-prefix,tag-headers,stale-if-error,batch-delay,varnish,cloudflare") != 0)
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
    if ((v = yoml_get(node, "batch-delay")) != NULL) {
        if (scan_number(cmd, v, 0, 60000, &n) != 0)
            return -1;
        edge_settings.batch_delay_ms = n;
    }
    if ((v = yoml_get(node, "varnish")) != NULL && on_varnish(cmd, v) != 0)
        return -1;
    if ((v = yoml_get(node, "cloudflare")) != NULL && on_cloudflare(cmd, v) != 0)
        return -1;
    if (yoml_get(node, "tag-headers") == NULL) /* by default, the header each configured edge reads */
        for (size_t i = 0; i != edge_settings.targets.size; ++i)
            headers |= edge_settings.targets.entries[i].kind == EDGE_VARNISH ? EDGE_HEADER_XKEY : EDGE_HEADER_CACHE_TAG;
    edge_settings.headers = headers;
    if (edge_settings.targets.size != 0)
        booka_invalidation_add_observer(edge_purge_observe);
    return 0;
}

void booka_edge_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    h2o_configurator_define_command(c, "booka.edge", H2O_CONFIGURATOR_FLAG_GLOBAL | H2O_CONFIGURATOR_FLAG_EXPECT_MAPPING,
                                    on_config_edge);
}
