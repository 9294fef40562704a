/* internal.h: what the db module's files share: the settings the configurator fills and the pool reads, and the cancel
 * worker. */
#ifndef BOOKA_DB_INTERNAL_H
#define BOOKA_DB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>
#include "h2o/multithread.h"

/* db_target_t: one database to connect to (the primary, or the read replica) and how. */
typedef struct db_target {
    char *conninfo;               /* as configured (URL or key=value), NULL when none */
    const char *application_name; /* unless the URL names one; NULL: "booka-origin" */
    const char **keywords;        /* NULL-terminated libpq keywords for PQconnectStartParams, built by db_target_prepare */
    const char **values;          /* their values */
    /* Host names are resolved before each attempt (off the loop) and passed as hostaddr. When resolve is NULL, no host
     * needs it and keywords/values are used as they are. */
    size_t num_hosts;
    char **hosts; /* the `host` list, split */
    int *resolve; /* per host: whether it is a name */
    char **ports; /* the `port` list, split (NULL when absent); one entry applies to every host */
    size_t num_ports;
    size_t host_index, hostaddr_index, port_index; /* in keywords; port_index is SIZE_MAX when absent */
} db_target_t;

typedef struct db_settings {
    db_target_t primary, replica;
    size_t pool_size;             /* connections per thread and per target */
    size_t queue_limit;           /* waiting queries per thread and per target */
    uint64_t query_timeout;       /* ms from submit to answer, queue wait included */
    uint64_t connect_timeout;     /* ms for one connection attempt (name lookup, TCP, TLS, startup) */
    uint64_t statement_timeout;   /* ms, sent as the session's statement_timeout; 0 = leave the server's */
    uint64_t cancel_grace;        /* ms a cancelled statement has to wind down before its connection is replaced */
    uint64_t max_reconnect_delay; /* ms, ceiling of the exponential reconnect backoff */
    int pgbouncer;                /* transaction pooling: no named prepared statements, no startup options */
    db_target_t listen;           /* the LISTEN connection: `listen-url`, else the primary's url (none through pgBouncer) */
    int required;                 /* a handler uses the database */
} db_settings_t;

extern db_settings_t db_settings;

/* db_target_prepare: parses target->conninfo (PQconninfoParse) and builds its keyword/value arrays with our defaults
 * (application_name: target->application_name or booka-origin; keepalives, gssencmode=disable unless given) and statement_timeout
 * in `options` (unless pgbouncer). Returns 0, or -1 with a message in err. */
int db_target_prepare(db_target_t *target, const db_settings_t *settings, char *err, size_t errlen);

/* db_target_dispose: frees what db_target_prepare built (not conninfo). */
void db_target_dispose(db_target_t *target);

/* db_cancel_reply_t: posted back to the loop when a cancel request has been delivered (the receiver frees it). */
typedef struct db_cancel_reply {
    h2o_multithread_message_t super;
    void *conn;
    uint64_t serial;
} db_cancel_reply_t;

/* db_cancel_async: asks the server to cancel what `pg` runs, from a worker thread (PQcancel blocks: it opens a new
 * connection), then posts a db_cancel_reply_t carrying conn and serial to `receiver`. Never blocks the caller; when the
 * request cannot be queued, no reply comes. */
void db_cancel_async(PGconn *pg, h2o_multithread_receiver_t *receiver, void *conn, uint64_t serial);

#endif
