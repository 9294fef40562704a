/* link.h: one libpq connection on an h2o event loop, opened without ever blocking the loop: host names are resolved on
 * h2o's resolver threads and handed to libpq as hostaddr, PQconnectStartParams/PQconnectPoll are driven by socket
 * readiness, and the attempt is bounded by a timeout. The pool's connections (conn.c) and the LISTEN connection
 * (listen.c) are both links, so both get the target's keepalives, name resolution off the loop and connect timeout. */
#ifndef BOOKA_DB_LINK_H
#define BOOKA_DB_LINK_H

#include <sys/types.h>
#include "db/internal.h"
#include "h2o.h"

typedef struct db_link db_link_t;

/* db_link_open_cb: the attempt ended. With err NULL, link->pg is connected and non-blocking and link->sock watches its
 * socket with nothing pending: the owner calls h2o_socket_read_start (sock->data is the link). Otherwise the link is
 * already closed again and err says why (valid during the call only). */
typedef void (*db_link_open_cb)(db_link_t *link, const char *err);

struct db_link {
    /* set by the owner before db_link_open, kept across attempts */
    h2o_context_t *ctx;     /* the loop, and the receiver of its name lookups */
    db_target_t *target;    /* what to connect to, with our keepalives and options (db_target_prepare) */
    h2o_timeout_t *timeout; /* bounds one attempt: lookup, TCP, TLS, startup (connect-timeout) */
    db_link_open_cb on_open;
    /* the link's own */
    PGconn *pg;         /* NULL while closed */
    h2o_socket_t *sock; /* a dup() of PQsocket(pg) (h2o_socket_close closes the fd it owns), sock->data = link */
    dev_t sock_dev;     /* libpq's socket is recognised by device and inode: a new one may reuse the old number */
    ino_t sock_ino;
    int opening, wants_write;  /* opening: which readiness PQconnectPoll waits for */
    h2o_timeout_entry_t timer; /* the attempt's timeout */
    h2o_hostinfo_getaddr_req_t *lookup;
    size_t lookup_index;
    char **addrs; /* per host of the target that is a name: its addresses, comma-separated */
};

/* db_link_open: starts one attempt on a closed link; link->on_open follows, from the loop, or at once when the attempt
 * cannot even start (out of memory, a bad parameter). */
void db_link_open(db_link_t *link);

/* db_link_close: ends the attempt or the connection (lookup, timer, socket, PGconn); the link can be opened again. */
void db_link_close(db_link_t *link);

/* db_link_want_write: asks for one writability notification unless one is pending already (h2o allows one at a time). */
void db_link_want_write(db_link_t *link, h2o_socket_cb cb);

/* db_link_backoff: the delay before reconnect attempt number `failures` (1 for the first): exponential from 50 ms to
 * max-reconnect-delay, half of it random, so threads and instances do not knock in step. */
uint64_t db_link_backoff(unsigned failures);

#endif
