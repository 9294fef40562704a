/* fake_request.h: an h2o_req_t with just enough around it (connection, context, host, matched path) for the mruby
 * module's tests, which read requests and write responses but never send them. */
#ifndef BOOKA_TEST_FAKE_REQUEST_H
#define BOOKA_TEST_FAKE_REQUEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include "h2o.h"

struct fake_request {
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_hostconf_t hostconf;
    h2o_pathconf_t pathconf;
    h2o_conn_t conn;
    h2o_req_t req;
};

static inline socklen_t fake_address(struct sockaddr *sa, const char *ip, uint16_t port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)sa;
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    inet_pton(AF_INET, ip, &sin->sin_addr);
    return sizeof(*sin);
}

static inline socklen_t fake_sockname(h2o_conn_t *conn, struct sockaddr *sa)
{
    return fake_address(sa, "127.0.0.1", 8080);
}

static inline socklen_t fake_peername(h2o_conn_t *conn, struct sockaddr *sa)
{
    return fake_address(sa, "10.0.0.7", 54321);
}

static const h2o_conn_callbacks_t fake_callbacks = {.get_sockname = fake_sockname, .get_peername = fake_peername};

/* fake_request_init: a `method` request for `path` (query included, as sent) matched by the path `mount`, over
 * HTTP/1.1 to host "default". Normalises the path as libh2o's router does. */
static inline void fake_request_init(struct fake_request *f, const char *mount, const char *method, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("h2o/2.2.5"));
    f->ctx.globalconf = &f->globalconf;
    f->hostconf.authority.host = h2o_iovec_init(H2O_STRLIT("default"));
    f->pathconf.path = h2o_iovec_init(mount, strlen(mount));
    f->conn.ctx = &f->ctx;
    f->conn.callbacks = &fake_callbacks;
    h2o_mem_init_pool(&f->req.pool);
    f->req.conn = &f->conn;
    f->req.hostconf = &f->hostconf;
    f->req.pathconf = &f->pathconf;
    f->req.scheme = &H2O_URL_SCHEME_HTTP;
    f->req.version = 0x101;
    f->req.method = h2o_iovec_init(method, strlen(method));
    f->req.authority = h2o_iovec_init(H2O_STRLIT("api.example.com"));
    f->req.path = h2o_iovec_init(path, strlen(path));
    f->req.path_normalized =
        h2o_url_normalize_path(&f->req.pool, f->req.path.base, f->req.path.len, &f->req.query_at, &f->req.norm_indexes);
    f->req.res.content_length = SIZE_MAX;
}

static inline void fake_request_dispose(struct fake_request *f)
{
    h2o_mem_clear_pool(&f->req.pool);
}

/* fake_header_value: the value of the index-th response header named `name` (NULL when absent), NUL-terminated in the pool. */
static inline const char *fake_header_value(struct fake_request *f, const char *name, size_t index)
{
    for (size_t i = 0; i != f->req.res.headers.size; ++i) {
        h2o_header_t *h = f->req.res.headers.entries + i;
        if (h2o_memis(h->name->base, h->name->len, name, strlen(name)) && index-- == 0)
            return h2o_strdup(&f->req.pool, h->value.base, h->value.len).base;
    }
    return NULL;
}

#endif
