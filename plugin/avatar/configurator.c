/* configurator.c: `booka.avatar`, the avatar endpoint on a path: `ON` for the defaults, or a mapping of settings (every key
 * is documented in docs/AVATAR.md). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "h2o.h"
#include "h2o/configurator.h"
#include "h2o/serverutil.h"
#include "avatar/avatar.h"
#include "avatar/internal.h"
#include "metrics/metrics.h"

static const char *const keys =
    "media-root, max-source-bytes, max-source-pixels, max-side, worker-threads, queue-limit, fetch-connect-timeout, "
    "fetch-timeout, fetch-max-bytes, fetch-ca-file, max-age, s-maxage, versioned-max-age, cache-budget, cache-ttl or "
    "coalesce-timeout";

/* scan_number: a non-negative integer in [min, max] from a scalar node; with `sizes`, a K, M or G suffix multiplies by
 * 1024, 1024^2 or 1024^3. */
static int scan_number(h2o_configurator_command_t *cmd, yoml_t *node, int sizes, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *s = node->type == YOML_TYPE_SCALAR ? node->data.scalar : "";
    uint64_t value = 0, unit = 1;
    size_t i = 0;

    for (; s[i] >= '0' && s[i] <= '9' && value <= UINT64_MAX / 10 - 10; ++i)
        value = value * 10 + (uint64_t)(s[i] - '0');
    if (sizes && i != 0 && s[i] != '\0' && s[i + 1] == '\0') {
        switch (s[i]) {
        case 'k':
        case 'K':
            unit = 1024, ++i;
            break;
        case 'm':
        case 'M':
            unit = 1024 * 1024, ++i;
            break;
        case 'g':
        case 'G':
            unit = 1024 * 1024 * 1024, ++i;
            break;
        }
    }
    if (i == 0 || s[i] != '\0' || value > max / unit || value * unit < min) {
        h2o_configurator_errprintf(cmd, node, "expected a number from %" PRIu64 " to %" PRIu64 "%s", min, max,
                                   sizes ? " (a K, M or G suffix multiplies by 1024, 1024^2 or 1024^3)" : "");
        return -1;
    }
    *out = value * unit;
    return 0;
}

/* open_media_root: the media root as a directory descriptor that every lookup starts from. */
static int open_media_root(h2o_configurator_command_t *cmd, yoml_t *node, avatar_config_t *conf)
{
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

/* apply_setting: one key of the mapping. Returns 0, or -1 after reporting. */
static int apply_setting(h2o_configurator_command_t *cmd, yoml_t *key, yoml_t *value, avatar_config_t *conf, const char **ca_file,
                         int *fetch_max_bytes_given)
{
    const char *k = key->type == YOML_TYPE_SCALAR ? key->data.scalar : "";
    uint64_t v;

    if (strcmp(k, "media-root") == 0)
        return open_media_root(cmd, value, conf);
    if (strcmp(k, "fetch-ca-file") == 0) {
        if (value->type != YOML_TYPE_SCALAR) {
            h2o_configurator_errprintf(cmd, value, "expected the path of a PEM file");
            return -1;
        }
        *ca_file = value->data.scalar;
        return 0;
    }
#define NUMBER(name, sizes, min, max, assign)                                                                                      \
    if (strcmp(k, name) == 0) {                                                                                                    \
        if (scan_number(cmd, value, sizes, min, max, &v) != 0)                                                                     \
            return -1;                                                                                                             \
        assign;                                                                                                                    \
        return 0;                                                                                                                  \
    }
    NUMBER("max-source-bytes", 1, 1024, (uint64_t)1 << 32, conf->limits.max_source_bytes = v)
    NUMBER("max-source-pixels", 0, 1, (uint64_t)1 << 34, conf->limits.max_source_pixels = v)
    NUMBER("max-side", 0, 16, 8192, conf->limits.max_output_side = (uint32_t)v)
    NUMBER("worker-threads", 0, 1, 256, conf->worker_threads = v)
    NUMBER("queue-limit", 0, 0, 1000000, conf->queue_limit = v)
    NUMBER("fetch-connect-timeout", 0, 1, 3600000, conf->fetch_connect_timeout = v)
    NUMBER("fetch-timeout", 0, 1, 3600000, conf->fetch_timeout = v)
    NUMBER("fetch-max-bytes", 1, 1024, (uint64_t)1 << 32, (conf->fetch_max_bytes = v, *fetch_max_bytes_given = 1))
    NUMBER("max-age", 0, 0, 315360000, conf->max_age = v)
    NUMBER("s-maxage", 0, 0, 315360000, conf->s_maxage = v)
    NUMBER("versioned-max-age", 0, 0, 315360000, conf->versioned_max_age = v)
    NUMBER("cache-budget", 1, 0, (uint64_t)1 << 40, conf->cache_budget = v)
    NUMBER("cache-ttl", 0, 1, 315360000, conf->cache_ttl = v)
    NUMBER("coalesce-timeout", 0, 1, 3600000, conf->coalesce_timeout = v)
#undef NUMBER
    h2o_configurator_errprintf(cmd, key, "unknown key (expected %s)", keys);
    return -1;
}

static int on_config_avatar(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    avatar_config_t conf = {
        .media_root_fd = -1,
        .limits = booka_image_default_limits,
        .worker_threads = h2o_numproc(),
        .queue_limit = 64,
        .fetch_connect_timeout = 3000,
        .fetch_timeout = 10000,
        .max_age = 86400,
        .s_maxage = 604800,
        .versioned_max_age = 31536000,
        .cache_budget = 64 * 1024 * 1024,
        .cache_ttl = 86400,
        .coalesce_timeout = 30000,
    };
    const char *ca_file = NULL;
    int fetch_max_bytes_given = 0;

    if (node->type == YOML_TYPE_SCALAR) {
        ssize_t on = h2o_configurator_get_one_of(cmd, node, "OFF,ON");
        if (on != 1)
            return on == 0 ? 0 : -1;
    } else {
        for (size_t i = 0; i != node->data.mapping.size; ++i)
            if (apply_setting(cmd, node->data.mapping.elements[i].key, node->data.mapping.elements[i].value, &conf, &ca_file,
                              &fetch_max_bytes_given) != 0)
                goto Error;
    }
    if (!fetch_max_bytes_given)
        conf.fetch_max_bytes = conf.limits.max_source_bytes;
    if ((conf.fetch_ssl_ctx = create_client_ssl_ctx(cmd, node, ca_file)) == NULL)
        goto Error;
    avatar_handler_register(ctx->pathconf, &conf);
    return 0;
Error:
    if (conf.media_root_fd != -1)
        close(conf.media_root_fd);
    free(conf.media_root);
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
