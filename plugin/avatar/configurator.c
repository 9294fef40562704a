/* configurator.c: `booka.avatar`, the avatar endpoint on a path: `ON` for the defaults, or a mapping of settings (every key
 * is documented in docs/AVATAR.md). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "h2o.h"
#include "h2o/configurator.h"
#include "h2o/serverutil.h"
#include "avatar/avatar.h"
#include "avatar/internal.h"
#include "config/table.h"
#include "http/query.h"
#include "metrics/metrics.h"

/* avatar_directive_t: what the `booka.avatar` mapping sets: the endpoint's configuration, and the CA file the fetch's TLS
 * context is made from once the mapping is read. */
typedef struct {
    avatar_config_t conf;
    yoml_t *ca_file;
    yoml_t *allowed_sides, *other_sides, *signing_keys[2]; /* where they were given, for the checks made afterwards */
} avatar_directive_t;

/* open_media_root: the media root as a directory descriptor that every lookup starts from. */
static int open_media_root(h2o_configurator_command_t *cmd, yoml_t *node, void *directive)
{
    avatar_config_t *conf = &((avatar_directive_t *)directive)->conf;

    if (node->type != YOML_TYPE_SCALAR || node->data.scalar[0] == '\0') {
        h2o_configurator_errprintf(cmd, node, "expected the path of a directory");
        return -1;
    }
    if (conf->media_root_fd != -1)
        close(conf->media_root_fd);
    if ((conf->media_root_fd = open(node->data.scalar, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1) {
        h2o_configurator_errprintf(cmd, node, "cannot open the media root %s as a directory", node->data.scalar);
        return -1;
    }
    conf->media_root = h2o_strdup(NULL, node->data.scalar, SIZE_MAX).base;
    return 0;
}

/* on_verify_peer: adds the host name check that libh2o 2.2's client leaves out: the peer's certificate must name the host
 * we connected to (the SNI name the client sets), as a DNS name or an IP address. */
static int on_verify_peer(int preverify_ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    const char *name = ssl != NULL ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL;
    unsigned char addr[16];

    if (!preverify_ok || X509_STORE_CTX_get_error_depth(store) != 0)
        return preverify_ok;
    if (name == NULL || cert == NULL)
        return 0;
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        return X509_check_ip_asc(cert, name, 0) == 1;
    return X509_check_host(cert, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

/* create_client_ssl_ctx: TLS for https sources: peers are verified (against `ca_file`, or the system's store when NULL),
 * host name included. */
static SSL_CTX *create_client_ssl_ctx(h2o_configurator_command_t *cmd, yoml_t *node, const char *ca_file)
{
    SSL_CTX *ssl_ctx = SSL_CTX_new(TLS_client_method());
    int loaded;

    if (ssl_ctx == NULL) {
        h2o_configurator_errprintf(cmd, node, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, on_verify_peer);
    loaded = ca_file != NULL ? SSL_CTX_load_verify_locations(ssl_ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ssl_ctx);
    if (!loaded) {
        h2o_configurator_errprintf(cmd, node, "cannot load the certificate authorities%s%s", ca_file != NULL ? " in " : "",
                                   ca_file != NULL ? ca_file : "");
        ERR_clear_error();
        SSL_CTX_free(ssl_ctx);
        return NULL;
    }
    return ssl_ctx;
}

static int set_ca_file(h2o_configurator_command_t *cmd, yoml_t *value, void *directive)
{
    if (value->type != YOML_TYPE_SCALAR) {
        h2o_configurator_errprintf(cmd, value, "expected the path of a PEM file");
        return -1;
    }
    ((avatar_directive_t *)directive)->ca_file = value;
    return 0;
}

/* set_media_base_url: `media-base-url`, an http(s) URL that stored /static/ paths are fetched below (a bucket, the
 * legacy backend); a '/' is added when it does not end with one. */
static int set_media_base_url(h2o_configurator_command_t *cmd, yoml_t *node, void *directive)
{
    avatar_config_t *conf = &((avatar_directive_t *)directive)->conf;
    h2o_url_t parsed;
    const char *s = node->type == YOML_TYPE_SCALAR ? node->data.scalar : "";
    size_t len = strlen(s);

    if (h2o_url_parse(s, len, &parsed) != 0 || parsed.host.len == 0 || strchr(s, '?') != NULL || strchr(s, '#') != NULL) {
        h2o_configurator_errprintf(cmd, node,
                                   "expected an http(s) URL without query or fragment, e.g. https://media.example.com/static/");
        return -1;
    }
    free(conf->media_base_url);
    conf->media_base_url = h2o_mem_alloc(len + 2);
    memcpy(conf->media_base_url, s, len);
    strcpy(conf->media_base_url + len, len != 0 && s[len - 1] == '/' ? "" : "/");
    return 0;
}

/* add_allowed_block: one `fetch-allow` entry, an address block such as 10.1.0.0/16 or fd00::/8. */
static int add_allowed_block(h2o_configurator_command_t *cmd, yoml_t *node, avatar_directive_t *d)
{
    booka_cidr_t cidr;

    if (node->type != YOML_TYPE_SCALAR || booka_cidr_parse(node->data.scalar, &cidr) != 0) {
        h2o_configurator_errprintf(cmd, node, "expected an address block such as 10.1.0.0/16 or fd00::/8 (host bits zero)");
        return -1;
    }
    h2o_vector_reserve(NULL, &d->conf.fetch_allow, d->conf.fetch_allow.size + 1);
    d->conf.fetch_allow.entries[d->conf.fetch_allow.size++] = cidr;
    return 0;
}

/* set_fetch_allow: `fetch-allow`: one block or a list of them that picture fetches may reach besides public addresses
 * (address.c says which are not public). */
static int set_fetch_allow(h2o_configurator_command_t *cmd, yoml_t *value, void *directive)
{
    if (value->type != YOML_TYPE_SEQUENCE)
        return add_allowed_block(cmd, value, directive);
    for (size_t i = 0; i != value->data.sequence.size; ++i)
        if (add_allowed_block(cmd, value->data.sequence.elements[i], directive) != 0)
            return -1;
    return 0;
}

/* set_allowed_sides: `allowed-sides`, the output sides (w * dpr, rounded) served: one number or a list of at most
 * AVATAR_ALLOWED_SIDES_MAX, each 16..8192 (and at most max-side, checked once the mapping is read), none twice. */
static int set_allowed_sides(h2o_configurator_command_t *cmd, yoml_t *value, void *directive)
{
    static const booka_config_number_t rule = {BOOKA_CONFIG_KIND_COUNT, 1, 16, 8192};
    avatar_directive_t *d = directive;
    size_t n = value->type == YOML_TYPE_SEQUENCE ? value->data.sequence.size : 1;

    if (value->type == YOML_TYPE_MAPPING || n == 0 || n > AVATAR_ALLOWED_SIDES_MAX) {
        h2o_configurator_errprintf(cmd, value, "expected a list of 1 to %d output sides in pixels, e.g. [64, 128, 256, 512]",
                                   AVATAR_ALLOWED_SIDES_MAX);
        return -1;
    }
    d->conf.num_allowed_sides = 0;
    for (size_t i = 0; i != n; ++i) {
        yoml_t *node = value->type == YOML_TYPE_SEQUENCE ? value->data.sequence.elements[i] : value;
        uint64_t side;
        size_t at;
        if (booka_config_scan_number(cmd, node, &rule, &side) != 0)
            return -1;
        for (at = 0; at != d->conf.num_allowed_sides && d->conf.allowed_sides[at] < side; ++at)
            ;
        if (at != d->conf.num_allowed_sides && d->conf.allowed_sides[at] == side) {
            h2o_configurator_errprintf(cmd, node, "side %" PRIu64 " is listed twice", side);
            return -1;
        }
        memmove(d->conf.allowed_sides + at + 1, d->conf.allowed_sides + at, (d->conf.num_allowed_sides - at) * sizeof(uint32_t));
        d->conf.allowed_sides[at] = (uint32_t)side;
        ++d->conf.num_allowed_sides;
    }
    d->allowed_sides = value;
    return 0;
}

/* set_other_sides: `other-sides`: what a request for a side allowed-sides does not list gets: `reject` (422) or `snap`
 * (the nearest allowed side). */
static int set_other_sides(h2o_configurator_command_t *cmd, yoml_t *value, void *directive)
{
    avatar_directive_t *d = directive;
    ssize_t mode;

    if (value->type != YOML_TYPE_SCALAR) {
        h2o_configurator_errprintf(cmd, value, "expected reject or snap");
        return -1;
    }
    if ((mode = h2o_configurator_get_one_of(cmd, value, "reject,snap")) == -1)
        return -1;
    d->conf.snap_sides = mode == 1;
    d->other_sides = value;
    return 0;
}

/* signing_key: the signer made from the key in the environment variable that `node` names: 64 to 128 hex digits (32 to
 * 64 bytes). The key never appears in a message. */
static booka_avatar_signer_t *signing_key(h2o_configurator_command_t *cmd, yoml_t *node)
{
    uint8_t key[BOOKA_AVATAR_KEY_MAX];
    const char *name = node->type == YOML_TYPE_SCALAR ? node->data.scalar : "", *hex;
    int valid = name[0] != '\0', is_hex = 1;
    size_t len;
    booka_avatar_signer_t *signer;

    for (size_t i = 0; valid && name[i] != '\0'; ++i)
        valid = name[i] == '_' || (name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= 'a' && name[i] <= 'z') ||
                (i != 0 && name[i] >= '0' && name[i] <= '9');
    if (!valid) {
        h2o_configurator_errprintf(cmd, node, "expected the name of an environment variable, e.g. BOOKA_AVATAR_KEY");
        return NULL;
    }
    if ((hex = getenv(name)) == NULL || hex[0] == '\0') {
        h2o_configurator_errprintf(cmd, node,
                                   "the environment variable %s is not set: it must hold the avatar signing key, %d to %d hex "
                                   "digits (e.g. from `openssl rand -hex 32`)",
                                   name, BOOKA_AVATAR_KEY_MIN * 2, BOOKA_AVATAR_KEY_MAX * 2);
        return NULL;
    }
    len = strlen(hex);
    for (size_t i = 0; i != len; ++i)
        is_hex &= booka_hex_value((unsigned char)hex[i]) >= 0;
    if (!is_hex || len % 2 != 0 || len < BOOKA_AVATAR_KEY_MIN * 2 || len > BOOKA_AVATAR_KEY_MAX * 2) {
        h2o_configurator_errprintf(cmd, node,
                                   "the environment variable %s must hold %d to %d hex digits (%d to %d bytes, e.g. from "
                                   "`openssl rand -hex 32`); it holds %zu characters%s",
                                   name, BOOKA_AVATAR_KEY_MIN * 2, BOOKA_AVATAR_KEY_MAX * 2, BOOKA_AVATAR_KEY_MIN,
                                   BOOKA_AVATAR_KEY_MAX, len, is_hex ? "" : ", not all hex digits");
        return NULL;
    }
    for (size_t i = 0; i != len; i += 2)
        key[i / 2] = (uint8_t)(booka_hex_value((unsigned char)hex[i]) << 4 | booka_hex_value((unsigned char)hex[i + 1]));
    if ((signer = booka_avatar_signer_new(key, len / 2)) == NULL)
        h2o_configurator_errprintf(cmd, node, "cannot set up HMAC-SHA256 (OpenSSL)");
    OPENSSL_cleanse(key, sizeof(key));
    return signer;
}

static int set_signing_key(h2o_configurator_command_t *cmd, yoml_t *value, avatar_directive_t *d, size_t which)
{
    booka_avatar_signer_free(d->conf.signers[which]);
    if ((d->conf.signers[which] = signing_key(cmd, value)) == NULL)
        return -1;
    d->signing_keys[which] = value;
    return 0;
}

static int set_current_key(h2o_configurator_command_t *cmd, yoml_t *value, void *directive)
{
    return set_signing_key(cmd, value, directive, 0);
}

static int set_previous_key(h2o_configurator_command_t *cmd, yoml_t *value, void *directive)
{
    return set_signing_key(cmd, value, directive, 1);
}

/* check_sides_and_signing: what the keys say together, once the mapping is read. */
static int check_sides_and_signing(h2o_configurator_command_t *cmd, avatar_directive_t *d)
{
    const avatar_config_t *conf = &d->conf;
    int linked = strcmp(conf->signing_path, BOOKA_AVATAR_URL_PATH) == 0; /* the path list items link to */
    uint32_t list_side =
        booka_image_output_side(BOOKA_AVATAR_URL_WIDTH, BOOKA_AVATAR_URL_DPR, UINT32_MAX, conf->limits.max_output_side);

    if (d->other_sides != NULL && d->allowed_sides == NULL) {
        h2o_configurator_errprintf(cmd, d->other_sides, "other-sides needs allowed-sides");
        return -1;
    }
    if (d->allowed_sides != NULL) { /* each side given, at its own place */
        size_t n = d->allowed_sides->type == YOML_TYPE_SEQUENCE ? d->allowed_sides->data.sequence.size : 1;
        for (size_t i = 0; i != n; ++i) {
            yoml_t *side =
                d->allowed_sides->type == YOML_TYPE_SEQUENCE ? d->allowed_sides->data.sequence.elements[i] : d->allowed_sides;
            if (strtoull(side->data.scalar, NULL, 10) > conf->limits.max_output_side) {
                h2o_configurator_errprintf(cmd, side, "allowed side %s is over max-side (%" PRIu32 ")", side->data.scalar,
                                           conf->limits.max_output_side);
                return -1;
            }
        }
    }
    if (linked && conf->num_allowed_sides != 0 && !conf->snap_sides) {
        size_t i;
        for (i = 0; i != conf->num_allowed_sides && conf->allowed_sides[i] != list_side; ++i)
            ;
        if (i == conf->num_allowed_sides) {
            h2o_configurator_errprintf(cmd, d->allowed_sides,
                                       "allowed-sides must list %" PRIu32 ", the side of the avatar URLs the list endpoint emits "
                                       "(w=%d&dpr=%d), or other-sides be snap",
                                       list_side, BOOKA_AVATAR_URL_WIDTH, BOOKA_AVATAR_URL_DPR);
            return -1;
        }
    }
    if (d->signing_keys[1] != NULL && d->signing_keys[0] == NULL) {
        h2o_configurator_errprintf(cmd, d->signing_keys[1], "previous-signing-key-env needs signing-key-env");
        return -1;
    }
    if (linked && conf->signers[0] != NULL && booka_avatar_url_set_signer(conf->signers[0]) != 0) {
        h2o_configurator_errprintf(cmd, d->signing_keys[0],
                                   "another booka.avatar at %s signs with another key: the list endpoint links to that path, so "
                                   "every booka.avatar there must sign with one key",
                                   BOOKA_AVATAR_URL_PATH);
        return -1;
    }
    return 0;
}

/* add_fetch_port: one `fetch-ports` entry, a TCP port. */
static int add_fetch_port(h2o_configurator_command_t *cmd, yoml_t *node, avatar_directive_t *d)
{
    static const booka_config_number_t rule = {BOOKA_CONFIG_KIND_COUNT, 1, 1, 65535};
    uint64_t port;

    if (booka_config_scan_number(cmd, node, &rule, &port) != 0)
        return -1;
    h2o_vector_reserve(NULL, &d->conf.fetch_ports, d->conf.fetch_ports.size + 1);
    d->conf.fetch_ports.entries[d->conf.fetch_ports.size++] = (uint16_t)port;
    return 0;
}

/* set_fetch_ports: `fetch-ports`: a port or a list of them that stored http(s) URLs may name (replacing 80 and 443). */
static int set_fetch_ports(h2o_configurator_command_t *cmd, yoml_t *value, void *directive)
{
    avatar_directive_t *d = directive;

    d->conf.fetch_ports.size = 0;
    if (value->type != YOML_TYPE_SEQUENCE)
        return add_fetch_port(cmd, value, d);
    if (value->data.sequence.size == 0) { /* no port at all would refuse every http(s) source without a word */
        h2o_configurator_errprintf(cmd, value, "fetch-ports needs at least one port");
        return -1;
    }
    for (size_t i = 0; i != value->data.sequence.size; ++i)
        if (add_fetch_port(cmd, value->data.sequence.elements[i], d) != 0)
            return -1;
    return 0;
}

#define TEN_YEARS 315360000
#define ONE_HOUR_MS 3600000
static const booka_config_key_t avatar_keys[] = {
    BOOKA_CONFIG_CUSTOM("media-root", open_media_root),
    BOOKA_CONFIG_CUSTOM("media-base-url", set_media_base_url),
    BOOKA_CONFIG_SIZE("originals-cache-size", avatar_directive_t, conf.originals_cache_size, BOOKA_CONFIG_BYTES, 0,
                      (uint64_t)1 << 40),
    BOOKA_CONFIG_DURATION("originals-ttl", avatar_directive_t, conf.originals_ttl, BOOKA_CONFIG_SECONDS, 1, 86400),
    BOOKA_CONFIG_SIZE("max-source-bytes", avatar_directive_t, conf.limits.max_source_bytes, BOOKA_CONFIG_BYTES, 1024,
                      (uint64_t)1 << 32),
    BOOKA_CONFIG_COUNT("max-source-pixels", avatar_directive_t, conf.limits.max_source_pixels, 1, (uint64_t)1 << 34),
    BOOKA_CONFIG_COUNT("max-side", avatar_directive_t, conf.limits.max_output_side, 16, 8192),
    BOOKA_CONFIG_SIZE("max-decode-memory", avatar_directive_t, conf.limits.max_decode_bytes, BOOKA_CONFIG_BYTES, 0,
                      (uint64_t)1 << 34),
    BOOKA_CONFIG_COUNT("worker-threads", avatar_directive_t, conf.worker_threads, 1, 256),
    BOOKA_CONFIG_COUNT("queue-limit", avatar_directive_t, conf.queue_limit, 0, 1000000),
    BOOKA_CONFIG_SIZE("worker-memory-budget", avatar_directive_t, conf.worker_memory_budget, BOOKA_CONFIG_BYTES, 0,
                      (uint64_t)1 << 40),
    BOOKA_CONFIG_DURATION("fetch-connect-timeout", avatar_directive_t, conf.fetch_connect_timeout, BOOKA_CONFIG_MS, 1, ONE_HOUR_MS),
    BOOKA_CONFIG_DURATION("fetch-timeout", avatar_directive_t, conf.fetch_timeout, BOOKA_CONFIG_MS, 1, ONE_HOUR_MS),
    BOOKA_CONFIG_SIZE("fetch-max-bytes", avatar_directive_t, conf.fetch_max_bytes, BOOKA_CONFIG_BYTES, 1024, (uint64_t)1 << 32),
    BOOKA_CONFIG_CUSTOM("fetch-ca-file", set_ca_file),
    BOOKA_CONFIG_CUSTOM("fetch-allow", set_fetch_allow),
    BOOKA_CONFIG_COUNT("fetch-concurrency", avatar_directive_t, conf.fetch_concurrency, 1, 100000),
    BOOKA_CONFIG_COUNT("fetch-per-host", avatar_directive_t, conf.fetch_per_host, 1, 100000),
    BOOKA_CONFIG_CUSTOM("fetch-ports", set_fetch_ports),
    BOOKA_CONFIG_DURATION("fetch-failure-ttl", avatar_directive_t, conf.fetch_failure_ttl, BOOKA_CONFIG_MS, 0, ONE_HOUR_MS),
    BOOKA_CONFIG_DURATION("max-age", avatar_directive_t, conf.max_age, BOOKA_CONFIG_SECONDS, 0, TEN_YEARS),
    BOOKA_CONFIG_DURATION("s-maxage", avatar_directive_t, conf.s_maxage, BOOKA_CONFIG_SECONDS, 0, TEN_YEARS),
    BOOKA_CONFIG_DURATION("versioned-max-age", avatar_directive_t, conf.versioned_max_age, BOOKA_CONFIG_SECONDS, 0, TEN_YEARS),
    BOOKA_CONFIG_SIZE("cache-budget", avatar_directive_t, conf.cache_budget, BOOKA_CONFIG_BYTES, 0, (uint64_t)1 << 40),
    BOOKA_CONFIG_DURATION("cache-ttl", avatar_directive_t, conf.cache_ttl, BOOKA_CONFIG_SECONDS, 1, TEN_YEARS),
    BOOKA_CONFIG_DURATION("coalesce-timeout", avatar_directive_t, conf.coalesce_timeout, BOOKA_CONFIG_MS, 1, ONE_HOUR_MS),
    BOOKA_CONFIG_CUSTOM("allowed-sides", set_allowed_sides),
    BOOKA_CONFIG_CUSTOM("other-sides", set_other_sides),
    BOOKA_CONFIG_CUSTOM("signing-key-env", set_current_key),
    BOOKA_CONFIG_CUSTOM("previous-signing-key-env", set_previous_key),
};
#undef ONE_HOUR_MS
#undef TEN_YEARS

/* on_config_avatar: `ON` (defaults), `OFF`, or a mapping of avatar_keys. */
static int on_config_avatar(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    avatar_directive_t d = {.conf = {
                                .media_root_fd = -1,
                                .limits = booka_image_default_limits,
                                .worker_threads = h2o_numproc(),
                                .queue_limit = 64,
                                .worker_memory_budget = (uint64_t)256 << 20,
                                .fetch_connect_timeout = 3000,
                                .fetch_timeout = 10000,
                                .fetch_concurrency = 32,
                                .originals_cache_size = 64 * 1024 * 1024,
                                .originals_ttl = 300,
                                .fetch_failure_ttl = 10000,
                                .max_age = 86400,
                                .s_maxage = 604800,
                                .versioned_max_age = 31536000,
                                .cache_budget = 64 * 1024 * 1024,
                                .cache_ttl = 86400,
                                .coalesce_timeout = 30000,
                            }};

    if (node->type == YOML_TYPE_SCALAR) {
        ssize_t on = h2o_configurator_get_one_of(cmd, node, "OFF,ON");
        if (on != 1)
            return on == 0 ? 0 : -1;
    } else if (booka_config_apply(cmd, node, avatar_keys, BOOKA_CONFIG_NKEYS(avatar_keys), &d, NULL) != 0) {
        goto Error;
    }
    d.conf.signing_path = h2o_strdup(NULL, ctx->pathconf->path.base, ctx->pathconf->path.len).base;
    if (ctx->pathconf->path.len != 0 && d.conf.signing_path[ctx->pathconf->path.len - 1] == '/')
        d.conf.signing_path[ctx->pathconf->path.len - 1] = '\0';
    if (check_sides_and_signing(cmd, &d) != 0)
        goto Error;
    if (d.conf.media_base_url != NULL && d.conf.media_root != NULL) {
        h2o_configurator_errprintf(cmd, yoml_get(node, "media-base-url"), "media-base-url and media-root exclude each other");
        goto Error;
    }
    if (yoml_get(node, "fetch-max-bytes") == NULL)
        d.conf.fetch_max_bytes = d.conf.limits.max_source_bytes;
    if (yoml_get(node, "fetch-per-host") == NULL)
        d.conf.fetch_per_host = d.conf.fetch_concurrency > 1 ? d.conf.fetch_concurrency / 2 : 1;
    if (yoml_get(node, "fetch-ports") == NULL) {
        h2o_vector_reserve(NULL, &d.conf.fetch_ports, 2);
        d.conf.fetch_ports.entries[0] = 80;
        d.conf.fetch_ports.entries[1] = 443;
        d.conf.fetch_ports.size = 2;
    }
    if ((d.conf.fetch_ssl_ctx = create_client_ssl_ctx(cmd, d.ca_file != NULL ? d.ca_file : node,
                                                      d.ca_file != NULL ? d.ca_file->data.scalar : NULL)) == NULL)
        goto Error;
    avatar_handler_register(ctx->pathconf, &d.conf);
    return 0;
Error:
    if (d.conf.media_root_fd != -1)
        close(d.conf.media_root_fd);
    free(d.conf.media_root);
    free(d.conf.media_base_url);
    free(d.conf.signing_path);
    if (booka_avatar_url_signer() != d.conf.signers[0])
        booka_avatar_signer_free(d.conf.signers[0]);
    booka_avatar_signer_free(d.conf.signers[1]);
    free(d.conf.fetch_ports.entries);
    free(d.conf.fetch_allow.entries);
    return -1;
}

/* The module's own counters, for the status handler and /metrics. */
static const struct {
    const char *status_name, *metric_name, *help;
    _Atomic uint64_t *value;
} counters[] = {
    {"avatar-decodes", "booka_avatar_decodes_total", "Avatar renders started on a worker (decode, resize, encode).",
     &avatar_stat_decodes},
    {"avatar-busy", "booka_avatar_busy_total", "Avatar misses refused with 503 because the worker pool was full.",
     &avatar_stat_queue_full},
    {"avatar-fetches", "booka_avatar_fetches_total", "Avatar sources fetched from http(s) upstreams.", &avatar_stat_fetches},
    {"avatar-memory-busy", "booka_avatar_memory_busy_total",
     "Avatar renders refused with 503 because the running renders held too much of worker-memory-budget.",
     &avatar_stat_memory_busy},
    {"avatar-fetch-busy", "booka_avatar_fetch_busy_total",
     "Avatar misses refused with 503 because fetch-concurrency fetches were in flight.", &avatar_stat_fetch_busy},
    {"avatar-originals-hits", "booka_avatar_originals_hits_total",
     "Avatar misses rendered from a source fetched earlier (the originals cache), without fetching it again.",
     &avatar_stat_originals_hits},
    {"avatar-originals-revalidated", "booka_avatar_originals_revalidated_total",
     "Avatar sources past originals-ttl that their server said were unchanged (304 to a conditional GET): not fetched again.",
     &avatar_stat_originals_revalidated},
    {"avatar-fetch-failure-hits", "booka_avatar_fetch_failure_hits_total",
     "Avatar misses answered from the memory of a source that failed within fetch-failure-ttl, without fetching.",
     &avatar_stat_fetch_failure_hits},
    {"avatar-lookups-skipped", "booka_avatar_lookups_skipped_total",
     "Avatar requests whose v was known to be the current version: served without looking the version up.",
     &avatar_stat_lookups_skipped},
};

/* on_status: the `avatar` block of the status handler's JSON (a fragment starting with a comma, as libh2o expects). */
static h2o_iovec_t on_status(void *unused, h2o_globalconf_t *conf, h2o_req_t *req)
{
    booka_buf_t b = {NULL};
    h2o_iovec_t out;

    for (size_t i = 0; i != sizeof(counters) / sizeof(counters[0]); ++i)
        booka_buf_appendf(&b, ",\n \"%s\": %" PRIu64, counters[i].status_name, atomic_load(counters[i].value));
    out = b.oom ? h2o_iovec_init(NULL, 0) : h2o_strdup(&req->pool, b.base, b.len);
    booka_buf_free(&b);
    return out;
}

static void collect_metrics(booka_buf_t *out)
{
    for (size_t i = 0; i != sizeof(counters) / sizeof(counters[0]); ++i) {
        booka_metrics_write_header(out, counters[i].metric_name, "counter", counters[i].help);
        booka_metrics_write_sample(out, counters[i].metric_name, "", (double)atomic_load(counters[i].value));
    }
    avatar_pool_collect_metrics(out);
    avatar_fetch_collect_metrics(out);
}

void booka_avatar_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    h2o_configurator_define_command(c, "booka.avatar",
                                    H2O_CONFIGURATOR_FLAG_PATH | H2O_CONFIGURATOR_FLAG_DEFERRED |
                                        H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR | H2O_CONFIGURATOR_FLAG_EXPECT_MAPPING,
                                    on_config_avatar);
    h2o_config_register_simple_status_handler(conf, h2o_iovec_init(H2O_STRLIT("avatar")), on_status);
    booka_metrics_add_collector(collect_metrics);
}
