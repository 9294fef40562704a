/* server.h: state of the booka-origin host process (listeners, threads, host-level directives). */
#ifndef BOOKA_SERVER_H
#define BOOKA_SERVER_H

#include <openssl/ssl.h>
#include <sys/socket.h>
#include "h2o.h"
#include "h2o/configurator.h"

struct server_listener {
    int *fds; /* one per thread (index = thread), opened by server_bind_listeners; NULL before it and with -t */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    SSL_CTX *ssl_ctx;       /* NULL for cleartext (HTTP/1.1 and h2c) */
    h2o_hostconf_t **hosts; /* NULL-terminated */
    int is_global;          /* declared at global level: serves every host */
    char *position;         /* "FILE:LINE:COLUMN" of the `listen` that declared it, for errors */
    char *display;          /* "host:port" as written */
};

struct server_config {
    h2o_globalconf_t globalconf;
    struct server_listener **listeners;
    size_t num_listeners;
    size_t num_threads;
    int max_connections;
    int reuseport; /* one SO_REUSEPORT socket per thread instead of one shared socket */
    char *pid_file;
    char *error_log;
    int dry_run; /* -t: validate, bind nothing */
};

extern struct server_config server_conf;

/* server_register_listen_configurator: defines `listen` (global and host level), with H2O's spelling and meaning. */
void server_register_listen_configurator(h2o_globalconf_t *conf);

/* server_bind_listeners: opens every declared listener once the whole config is known (so `reuseport` and `num-threads`
 * apply whatever their position in the file), a socket for each thread: the first one bound, the others a duplicate of
 * it or, with `reuseport`, bound sockets of their own. Called before the switch of user, which could neither bind a port
 * below 1024 nor join a SO_REUSEPORT group the previous user's sockets started. Returns -1, with a "FILE:L:C:" message
 * on stderr, when one cannot be opened. */
int server_bind_listeners(void);

/* server_open_listener_socket: a bound, listening, non-blocking socket for `l`'s address; -1 with errno on failure. */
int server_open_listener_socket(const struct server_listener *l, int reuseport);

#endif
