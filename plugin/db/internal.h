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
    uint64_t replica_max_lag;     /* ms: past it (or a held write's fence not replayed), list reads go to the primary */
    uint64_t replica_interval;    /* ms between the replica monitor's probes of both servers */
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

/* ---- the read replica's monitor (replica.c) ---- */

/* DB_REPLICA_ONLY: a query flag: runs on the replica's pool whatever its state (the monitor's probe); never moves to the
 * primary. */
#define DB_REPLICA_ONLY 0x100

/* DB_PRIORITY: a query flag: the monitor's probes go to the front of their pool's wait queue and are never refused for
 * queue-limit (a queue full of list misses says nothing about the server, and a probe refused for it would flip the
 * replica to "not answering" under load). They still wait for a connection of the pool, behind no query. */
#define DB_PRIORITY 0x200

/* db_replica_readable: whether read-only queries may go to the replica now: it streams within max-lag and has replayed
 * the fence of the generation cache keys carry. Any thread. */
int db_replica_readable(void);

/* db_replica_configure: the replica is configured: /readyz and /metrics learn about it. Call from the configurator. */
void db_replica_configure(void);

/* DB_FENCE_UNKNOWN: the fence of a generation no probe has given one yet: no replay position passes it. */
#define DB_FENCE_UNKNOWN UINT64_MAX

/* db_followed_t: a cache generation the monitor follows: its value; its place in the order the monitor saw generations in
 * (values are no order: a derived one has the top bit set); when the monitor saw it (ms, loop time); its fence
 * (DB_FENCE_UNKNOWN until a probe gave one); the count of changes it covers (`serial`: the changes applied when it was
 * read); and how many primary probes had been sent by then (only a later one read positions after it). */
typedef struct db_followed {
    uint64_t generation, ordinal, seen_at, fence, serial, after_probe;
} db_followed_t;

/* db_fence_candidate: the fence primary probe number `probe`, sent at `sent_at`, gives generation `f`, from the insert
 * and flush positions it read (`async_window`: 3 x wal_writer_delay in ms, 0 when not known), or DB_FENCE_UNKNOWN when it
 * gives none (replica.c explains the rule). Pure: unit-tested. */
uint64_t db_fence_candidate(const db_followed_t *f, uint64_t probe, uint64_t sent_at, uint64_t async_window, uint64_t insert,
                            uint64_t flush);

/* db_lsn_parse: a pg_lsn's text ("16/B374D848") as a number. Returns 0, or -1 when it is not one. */
int db_lsn_parse(const char *text, uint64_t *lsn);

/* db_lsn_record_end: pg_current_wal_insert_lsn() as a position a standby's replay can reach. The insert position right at
 * the start of a WAL page points past the page header (24 bytes; 40 on a segment's first page), while replay stops at the
 * end of the last record, before that header: on an idle primary a standby would never "reach" it. */
uint64_t db_lsn_record_end(uint64_t insert_lsn, uint64_t block_size, uint64_t segment_size);

/* db_lag_history_t: the primary's WAL positions as the monitor saw them, oldest first (each newer than the last), to
 * answer "since when has the primary had WAL the replica has not replayed". */
typedef struct db_lag_history {
    struct db_lag_sample {
        uint64_t at, lsn; /* at: ms (loop time) when the position was read */
    } * samples;
    size_t capacity, first, count;
} db_lag_history_t;

/* db_lag_history_init: room for `capacity` samples (at least 1); the oldest are dropped when it is full. */
void db_lag_history_init(db_lag_history_t *h, size_t capacity);
void db_lag_history_dispose(db_lag_history_t *h);

/* db_lag_history_add: records that the primary had `lsn` at `at` (ignored unless past the newest sample). */
void db_lag_history_add(db_lag_history_t *h, uint64_t at, uint64_t lsn);

/* db_lag_history_lag: ms since the primary first had WAL past `replayed` (the replica's replay position), as of `now`;
 * 0 when the replica has replayed the newest sample. Past the history's span it is a lower bound. */
uint64_t db_lag_history_lag(const db_lag_history_t *h, uint64_t now, uint64_t replayed);

#endif
