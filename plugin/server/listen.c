/* listen.c: the `listen` directive: TCP listeners, cleartext (HTTP/1.1 + h2c) or TLS with ALPN h2 and http/1.1. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <string.h>
#include <unistd.h>
#include "config/table.h"
#include "server/server.h"

static int on_openssl_error(const char *str, size_t len, void *unused)
{
    fprintf(stderr, "%.*s", (int)len, str);
    return 1;
}

/* listen_nodes_t: the nodes of a `listen` mapping, or of its `ssl` mapping, as given (NULL when absent). */
typedef struct {
    yoml_t *host, *port, *ssl;
} listen_nodes_t;

typedef struct {
    yoml_t *certificate_file, *key_file, *minimum_version, *cipher_suite;
} ssl_nodes_t;

/* keep_scalar: *slot = value when it is a scalar; anything else is an error. */
static int keep_scalar(h2o_configurator_command_t *cmd, yoml_t *value, yoml_t **slot, const char *name)
{
    if (value->type != YOML_TYPE_SCALAR) {
        h2o_configurator_errprintf(cmd, value, "`%s` must be a string", name);
        return -1;
    }
    *slot = value;
    return 0;
}

static int keep_host(h2o_configurator_command_t *cmd, yoml_t *v, void *n)
{
    return keep_scalar(cmd, v, &((listen_nodes_t *)n)->host, "host");
}

static int keep_port(h2o_configurator_command_t *cmd, yoml_t *v, void *n)
{
    return keep_scalar(cmd, v, &((listen_nodes_t *)n)->port, "port");
}

static int keep_ssl(h2o_configurator_command_t *cmd, yoml_t *v, void *n)
{
    ((listen_nodes_t *)n)->ssl = v;
    return 0;
}

static int keep_certificate_file(h2o_configurator_command_t *cmd, yoml_t *v, void *n)
{
    return keep_scalar(cmd, v, &((ssl_nodes_t *)n)->certificate_file, "certificate-file");
}

static int keep_key_file(h2o_configurator_command_t *cmd, yoml_t *v, void *n)
{
    return keep_scalar(cmd, v, &((ssl_nodes_t *)n)->key_file, "key-file");
}

static int keep_minimum_version(h2o_configurator_command_t *cmd, yoml_t *v, void *n)
{
    return keep_scalar(cmd, v, &((ssl_nodes_t *)n)->minimum_version, "minimum-version");
}

static int keep_cipher_suite(h2o_configurator_command_t *cmd, yoml_t *v, void *n)
{
    return keep_scalar(cmd, v, &((ssl_nodes_t *)n)->cipher_suite, "cipher-suite");
}

/* The keys H2O's `listen` mapping has that this host implements (H2O's `type: unix`, `owner`, `permission` and
 * `proxy-protocol` are not: an error, not a silent default). A typo such as `hots:` is an error at its position. */
static const booka_config_key_t listen_keys[] = {
    BOOKA_CONFIG_CUSTOM("port", keep_port),
    BOOKA_CONFIG_CUSTOM("host", keep_host),
    BOOKA_CONFIG_CUSTOM("ssl", keep_ssl),
};

static const booka_config_key_t ssl_keys[] = {
    BOOKA_CONFIG_CUSTOM("certificate-file", keep_certificate_file), BOOKA_CONFIG_CUSTOM("key-file", keep_key_file),
    BOOKA_CONFIG_CUSTOM("minimum-version", keep_minimum_version),   BOOKA_CONFIG_CUSTOM("cipher-suite", keep_cipher_suite),
    BOOKA_CONFIG_ALIAS("min-version", "minimum-version"),
};

/* setup_ssl: an SSL_CTX for the `ssl` mapping; NULL (reported) on a missing property or an unreadable file. */
static SSL_CTX *setup_ssl(h2o_configurator_command_t *cmd, yoml_t *ssl_node)
{
    ssl_nodes_t given = {NULL};
    SSL_CTX *ctx = NULL;

    if (ssl_node->type != YOML_TYPE_MAPPING) {
        h2o_configurator_errprintf(cmd, ssl_node, "`ssl` must be a mapping");
        return NULL;
    }
    if (booka_config_apply(cmd, ssl_node, ssl_keys, BOOKA_CONFIG_NKEYS(ssl_keys), &given, NULL) != 0)
        return NULL;
    if (given.certificate_file == NULL || given.key_file == NULL) {
        h2o_configurator_errprintf(cmd, ssl_node, "`ssl` needs `certificate-file` and `key-file`");
        return NULL;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (given.minimum_version != NULL) {
        const char *min_version = given.minimum_version->data.scalar;
        int v = strcasecmp(min_version, "tlsv1.2") == 0   ? TLS1_2_VERSION
                : strcasecmp(min_version, "tlsv1.3") == 0 ? TLS1_3_VERSION
                                                          : 0;
        if (v == 0) {
            h2o_configurator_errprintf(cmd, given.minimum_version, "`minimum-version` must be TLSv1.2 or TLSv1.3");
            goto Error;
        }
        SSL_CTX_set_min_proto_version(ctx, v);
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, given.certificate_file->data.scalar) != 1) {
        h2o_configurator_errprintf(cmd, given.certificate_file, "cannot load certificate file %s",
                                   given.certificate_file->data.scalar);
        ERR_print_errors_cb(on_openssl_error, NULL);
        goto Error;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, given.key_file->data.scalar, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        h2o_configurator_errprintf(cmd, given.key_file, "cannot load private key file %s (or it does not match)",
                                   given.key_file->data.scalar);
        ERR_print_errors_cb(on_openssl_error, NULL);
        goto Error;
    }
    if (given.cipher_suite != NULL && SSL_CTX_set_cipher_list(ctx, given.cipher_suite->data.scalar) != 1) {
        h2o_configurator_errprintf(cmd, given.cipher_suite, "invalid cipher suite %s", given.cipher_suite->data.scalar);
        goto Error;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
    return ctx;
Error:
    SSL_CTX_free(ctx);
    return NULL;
}

int server_open_listener_socket(const struct server_listener *l, int reuseport)
{
    int fd, on = 1;

    if ((fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        (l->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0))
        goto Error;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0 || listen(fd, H2O_SOMAXCONN) != 0)
        goto Error;
    return fd;
Error : {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}
}

/* find_listener: an already-declared listener on the same address, or NULL. */
static struct server_listener *find_listener(const struct sockaddr *addr, socklen_t len)
{
    for (size_t i = 0; i != server_conf.num_listeners; ++i) {
        struct server_listener *l = server_conf.listeners[i];
        if (l->addrlen == len && memcmp(&l->addr, addr, len) == 0)
            return l;
    }
    return NULL;
}

/* bind_host: a listener declared at host level serves the hosts that name it; one declared globally, every host. */
static void bind_host(struct server_listener *l, h2o_configurator_context_t *ctx)
{
    if (!l->is_global && ctx->hostconf != NULL)
        h2o_append_to_null_terminated_list((void *)&l->hosts, ctx->hostconf);
}

static int on_config_listen(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    const char *host = NULL, *port = NULL;
    yoml_t *ssl_node = NULL;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_protocol = IPPROTO_TCP,
                             .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV | AI_PASSIVE},
                    *res, *ai;
    int err;

    switch (node->type) {
    case YOML_TYPE_SCALAR:
        port = node->data.scalar;
        break;
    case YOML_TYPE_MAPPING: {
        listen_nodes_t given = {NULL};
        if (booka_config_apply(cmd, node, listen_keys, BOOKA_CONFIG_NKEYS(listen_keys), &given, NULL) != 0)
            return -1;
        if (given.port == NULL) {
            h2o_configurator_errprintf(cmd, node, "missing mandatory property `port`");
            return -1;
        }
        port = given.port->data.scalar;
        host = given.host != NULL ? given.host->data.scalar : NULL;
        ssl_node = given.ssl;
    } break;
    default:
        h2o_configurator_errprintf(cmd, node, "expected a port or a mapping with `port` (and optionally `host`, `ssl`)");
        return -1;
    }
    if ((err = getaddrinfo(host, port, &hints, &res)) != 0) {
        h2o_configurator_errprintf(cmd, node, "cannot resolve the listen address %s:%s: %s", host ? host : "*", port,
                                   gai_strerror(err));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        struct server_listener *l = find_listener(ai->ai_addr, ai->ai_addrlen);
        if (l != NULL) {
            if ((l->ssl_ctx != NULL) != (ssl_node != NULL)) {
                h2o_configurator_errprintf(cmd, node, "this address is already declared %s TLS", l->ssl_ctx ? "with" : "without");
                goto Error;
            }
            bind_host(l, ctx);
            continue;
        }
        l = h2o_mem_alloc(sizeof(*l));
        *l = (struct server_listener){.addrlen = ai->ai_addrlen};
        memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
        if (ssl_node != NULL && (l->ssl_ctx = setup_ssl(cmd, ssl_node)) == NULL) {
            free(l);
            goto Error;
        }
        l->position = h2o_strdup(NULL, node->filename != NULL ? node->filename : "-", SIZE_MAX).base;
        l->display = h2o_mem_alloc(strlen(host ? host : "*") + strlen(port) + 2);
        sprintf(l->display, "%s:%s", host ? host : "*", port);
        l->is_global = ctx->hostconf == NULL; /* its host list is the global one, filled in on exit */
        if (!l->is_global)
            l->hosts = h2o_mem_alloc(sizeof(*l->hosts)), l->hosts[0] = NULL;
        bind_host(l, ctx);
        server_conf.listeners = h2o_mem_realloc(server_conf.listeners, sizeof(l) * (server_conf.num_listeners + 1));
        server_conf.listeners[server_conf.num_listeners++] = l;
    }
    freeaddrinfo(res);
    return 0;
Error:
    freeaddrinfo(res);
    return -1;
}

/* on_listen_exit: after the global level, listeners not tied to a host serve every host. */
static int on_listen_exit(h2o_configurator_t *c, h2o_configurator_context_t *ctx, yoml_t *node)
{
    if (ctx->pathconf != NULL || ctx->hostconf != NULL)
        return 0;
    for (size_t i = 0; i != server_conf.num_listeners; ++i)
        if (server_conf.listeners[i]->is_global)
            server_conf.listeners[i]->hosts = ctx->globalconf->hosts;
    if (server_conf.num_listeners == 0) {
        h2o_configurator_errprintf(NULL, node, "mandatory directive `listen` is missing");
        return -1;
    }
    return 0;
}

int server_bind_listeners(void)
{
    for (size_t i = 0; i != server_conf.num_listeners; ++i) {
        struct server_listener *l = server_conf.listeners[i];
        l->fds = h2o_mem_alloc(sizeof(*l->fds) * server_conf.num_threads);
        for (size_t t = 0; t != server_conf.num_threads; ++t) {
            int fd = t == 0 || server_conf.reuseport ? server_open_listener_socket(l, server_conf.reuseport)
                                                     : fcntl(l->fds[0], F_DUPFD_CLOEXEC, 0);
            if (fd == -1) {
                fprintf(stderr, "%s: in command listen, cannot listen on %s%s: %s\n", l->position, l->display,
                        t == 0 ? "" : " (a socket for another thread)", strerror(errno));
                return -1;
            }
            l->fds[t] = fd;
        }
    }
    return 0;
}

void server_register_listen_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    c->exit = on_listen_exit;
    h2o_configurator_define_command(c, "listen", H2O_CONFIGURATOR_FLAG_GLOBAL | H2O_CONFIGURATOR_FLAG_HOST, on_config_listen);
}
