/* listen.h: a LISTEN connection on an h2o loop, built on the pool's connect code (link.c): host names resolved off the
 * loop, connect-timeout, the target's TCP keepalives (so a silently dead peer is noticed in about a minute, not hours),
 * libpq's socket followed by inode, and reconnects with the pool's jittered backoff (up to max-reconnect-delay). */
#ifndef BOOKA_DB_LISTEN_H
#define BOOKA_DB_LISTEN_H

#include <libpq-fe.h>
#include "h2o.h"

typedef struct booka_db_listener booka_db_listener_t;

typedef struct booka_db_listen_callbacks {
    /* on_up: LISTEN is in effect (committed before the set-up query runs, so nothing is missed between the two); `setup`
     * is the set-up query's result, NULL when it failed (logged) or there is none. Notifications that arrived meanwhile
     * are delivered after this call. */
    void (*on_up)(void *data, const PGresult *setup);
    /* on_notify: one notification on the channel, in commit order. */
    void (*on_notify)(void *data, const char *payload);
    /* on_down: the connection that was up is lost; notifications are missed until the next on_up. */
    void (*on_down)(void *data);
} booka_db_listen_callbacks_t;

/* booka_db_listen: holds a connection to the LISTEN target on ctx's loop, running `LISTEN channel` then `setup_sql` (NULL
 * for none) on each (re)connect. The target is `listen-url`, else the primary's url; there is none without a database,
 * nor with `pgbouncer: ON` and no `listen-url` (transaction pooling cannot hold a LISTEN: the server connection that ran
 * it goes back to the pool, and the notifications with it, while the client side looks healthy): NULL then, and no
 * callback ever runs. `channel` and `setup_sql` are copied; `callbacks` and `data` must live as long as the process (the
 * listener is never freed). */
booka_db_listener_t *booka_db_listen(h2o_context_t *ctx, const char *channel, const char *setup_sql,
                                     const booka_db_listen_callbacks_t *callbacks, void *data);

#endif
