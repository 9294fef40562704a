/* pool.c: one pool of libpq connections per target (primary, replica) per event-loop thread.
 *
 * Every libpq call here is non-blocking: connections are opened with PQconnectStartParams/PQconnectPoll driven by socket
 * readiness (host names are looked up beforehand on h2o's resolver threads), then put in non-blocking pipeline mode; a
 * query is sent as one pipeline (Prepare when new on the connection, Execute per statement, Sync) and read back as the
 * socket becomes readable. libpq's socket joins the loop as a dup(), because h2o_socket_close closes the fd it owns;
 * the dup is recreated whenever libpq's socket changes (it may open another one while connecting).
 *
 * One query at a time runs on a connection: a cancel request then always hits the query it is meant for, and a lost
 * connection loses exactly one query, which is retried when that is safe. Queries wait in a bounded FIFO per pool. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "db/db.h"
#include "db/internal.h"
#include "http/http.h"
#include "http/json.h"
#include "metrics/metrics.h"

#define PREPARED_MAX 256 /* named statements per connection; further SQL shapes run unnamed */
#define TICK_MS 20       /* granularity of the reconnect backoff */
#define FIRST_RECONNECT_DELAY 50
#define VALIDATE_AFTER_IDLE 1000 /* ms idle after which a connection is checked before use */
#define MAX_COMMANDS (BOOKA_DB_MAX_STATEMENTS * 2)

enum conn_state { CONN_DOWN, CONN_RESOLVING, CONN_CONNECTING, CONN_IDLE, CONN_BUSY, CONN_CANCELLING, NUM_CONN_STATES };
enum command_kind { CMD_PREPARE, CMD_EXECUTE };

struct prepared {
    uint64_t hash;
    char *sql;
    uint64_t name; /* the statement is booka_<name> */
};

struct pool;

struct conn {
    struct pool *pool;
    enum conn_state state;
    PGconn *pg;
    h2o_socket_t *sock; /* a dup() of PQsocket(pg), identified by device and inode */
    dev_t sock_dev;
    ino_t sock_ino;
    int connect_wants_write;   /* connecting: PQconnectPoll waits for writability, else readability */
    h2o_timeout_entry_t timer; /* connect timeout, or the cancel grace */
    h2o_linklist_t idle_link;
    uint64_t serial;          /* changes whenever the connection is closed: stale cancel replies are ignored */
    uint64_t born;            /* pool generation when the connection came up */
    uint64_t next_attempt_at; /* CONN_DOWN: when to connect again */
    uint64_t idle_since;      /* CONN_IDLE: when it last became idle */
    int cancel_pending;       /* a cancel request is on its way; the connection is not reused before it lands */
    h2o_hostinfo_getaddr_req_t *lookup;
    size_t lookup_index;
    char **addrs;            /* per host that is a name: its addresses, comma-separated */
    booka_db_query_t *query; /* running */
    struct {
        unsigned char kind, statement;
    } commands[MAX_COMMANDS];
    size_t num_commands, command_index;
    struct prepared *prepared;
    size_t num_prepared;
    uint64_t next_name; /* names are never reused on a session: a forgotten statement may still exist on the server */
};

struct db_thread;

/* pool_counters: what booka_db_stats_t reports, as atomics: only the pool's thread writes them, /metrics reads them from
 * whichever thread serves the scrape. */
struct pool_counters {
    _Atomic uint64_t queries, waits, queue_full, timeouts, retries, failures;
};

enum pool_target { TARGET_PRIMARY, TARGET_REPLICA, NUM_TARGETS };
static const char *const target_names[NUM_TARGETS] = {"primary", "replica"};

struct pool {
    struct db_thread *thread;
    enum pool_target target_index;
    const char *name; /* "primary" or "replica", for the log and the metrics' `pool` label */
    db_target_t *target;
    struct conn *conns;
    h2o_linklist_t idle;    /* most recently used first */
    h2o_linklist_t waiting; /* FIFO of booka_db_query_t */
    _Atomic size_t num_waiting;
    size_t live;
    _Atomic size_t num_in_state[NUM_CONN_STATES]; /* connections per state (conn_set_state), for /metrics */
    uint64_t generation;                          /* bumped on every lost connection */
    unsigned consecutive_failures;
    uint64_t down_until; /* earliest next connection attempt while down */
    h2o_timeout_t connect_timeout, cancel_grace;
    struct pool_counters stats;
};

/* Process-wide latency histograms per target (the pools are per thread). */
static booka_histogram_t query_duration[NUM_TARGETS], queue_wait[NUM_TARGETS];

struct db_thread {
    h2o_context_t *ctx;
    h2o_loop_t *loop;
    struct pool primary, replica;
    int has_replica;
    h2o_timeout_t query_timeout, immediate, tick;
    h2o_timeout_entry_t tick_entry;
    h2o_multithread_receiver_t cancel_replies;
    struct db_thread *next_here; /* the next context's pools of the same thread (threads_here) */
};

struct booka_db_query {
    h2o_linklist_t link;          /* in pool->waiting */
    h2o_timeout_entry_t deadline; /* on thread->query_timeout; on thread->immediate once a failure is to be reported */
    struct db_thread *thread;
    struct pool *pool;
    struct conn *conn; /* running on */
    booka_db_query_cb cb;
    void *data;
    booka_trace_t *trace; /* gets the time from submit to answer, just before the callback; NULL when untraced */
    char request_id[BOOKA_REQUEST_ID_MAX + 1]; /* the request it serves, for the log ("" when none) */
    uint64_t submitted_at, queued_at, sent_at; /* booka_clock_us */
    int flags, retried, answered, got_result;
    booka_db_status_t failure;
    uint64_t min_generation; /* a retry runs only on a connection that came up after the failure */
    char sqlstate[6];
    size_t num_statements;
    struct {
        const char *sql;
        uint64_t hash;
        size_t num_params;
        const char *values[BOOKA_DB_MAX_PARAMS];
    } statements[BOOKA_DB_MAX_STATEMENTS];
    PGresult *results[BOOKA_DB_MAX_STATEMENTS];
};

static void pool_dispatch(struct pool *pool);
static void conn_start(struct conn *conn);
static void conn_lost(struct conn *conn, const char *why);
static void on_conn_read(h2o_socket_t *sock, const char *err);

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s != '\0'; ++s)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

booka_db_query_t *booka_db_query_new(const booka_db_statement_t *statements, size_t num_statements, int flags, booka_db_query_cb cb,
                                     void *data)
{
    size_t size = sizeof(booka_db_query_t);
    booka_db_query_t *q;
    char *p;

    if (num_statements == 0 || num_statements > BOOKA_DB_MAX_STATEMENTS)
        return NULL;
    for (size_t i = 0; i != num_statements; ++i) {
        if (statements[i].num_params > BOOKA_DB_MAX_PARAMS)
            return NULL;
        size += strlen(statements[i].sql) + 1;
        for (size_t j = 0; j != statements[i].num_params; ++j)
            if (statements[i].values[j] != NULL)
                size += strlen(statements[i].values[j]) + 1;
    }
    if ((q = calloc(1, size)) == NULL)
        return NULL;
    p = (char *)(q + 1);
    q->cb = cb;
    q->data = data;
    q->flags = flags;
    q->num_statements = num_statements;
    for (size_t i = 0; i != num_statements; ++i) {
        size_t len = strlen(statements[i].sql) + 1;
        q->statements[i].sql = memcpy(p, statements[i].sql, len);
        q->statements[i].hash = fnv1a(statements[i].sql);
        p += len;
        q->statements[i].num_params = statements[i].num_params;
        for (size_t j = 0; j != statements[i].num_params; ++j) {
            if (statements[i].values[j] == NULL)
                continue;
            len = strlen(statements[i].values[j]) + 1;
            q->statements[i].values[j] = memcpy(p, statements[i].values[j], len);
            p += len;
        }
    }
    return q;
}

static void query_free(booka_db_query_t *q)
{
    for (size_t i = 0; i != q->num_statements; ++i)
        if (q->results[i] != NULL)
            PQclear(q->results[i]);
    free(q);
}

void booka_db_query_trace(booka_db_query_t *q, booka_trace_t *trace)
{
    q->trace = trace;
    memcpy(q->request_id, trace->request_id, sizeof(q->request_id));
}

/* query_callback: the one place a callback runs, once: the trace gets the time since submit first. */
static void query_callback(booka_db_query_t *q, booka_db_status_t status, size_t num_results)
{
    if (q->answered)
        return;
    q->answered = 1;
    if (q->trace != NULL)
        q->trace->db_us += booka_clock_us() - q->submitted_at;
    q->cb(q->data, status, q->results, num_results);
}

/* query_answer: answers the query (unless it already was) and frees it unless it is still on a connection. */
static void query_answer(booka_db_query_t *q, booka_db_status_t status)
{
    if (h2o_timeout_is_linked(&q->deadline))
        h2o_timeout_unlink(&q->deadline);
    query_callback(q, status, q->num_statements);
    if (q->conn == NULL)
        query_free(q);
}

static void on_deferred_answer(h2o_timeout_entry_t *entry)
{
    booka_db_query_t *q = H2O_STRUCT_FROM_MEMBER(booka_db_query_t, deadline, entry);
    query_answer(q, q->failure);
}

/* query_fail_later: reports `status` from the next loop iteration, so no callback ever runs inside booka_db_submit. */
static void query_fail_later(booka_db_query_t *q, booka_db_status_t status)
{
    if (h2o_linklist_is_linked(&q->link)) {
        h2o_linklist_unlink(&q->link);
        --q->pool->num_waiting;
    }
    if (h2o_timeout_is_linked(&q->deadline))
        h2o_timeout_unlink(&q->deadline);
    if (q->answered) {
        if (q->conn == NULL)
            query_free(q);
        return;
    }
    ++q->pool->stats.failures;
    q->failure = status;
    q->deadline.cb = on_deferred_answer;
    h2o_timeout_link(q->thread->loop, &q->thread->immediate, &q->deadline);
}

static int pool_is_down(struct pool *pool)
{
    return pool->live == 0 && pool->consecutive_failures != 0;
}

/* pool_for: where a query goes: the replica for read-only queries while it is set up, not down and readable (replica.c:
 * streaming within max-lag and past the current generation's fence), else the primary; the replica monitor's probes
 * (DB_REPLICA_ONLY, only sent when a replica is set up) always to the replica. */
static struct pool *pool_for(struct db_thread *t, booka_db_query_t *q)
{
    if ((q->flags & DB_REPLICA_ONLY) != 0)
        return &t->replica;
    if (t->has_replica && (q->flags & BOOKA_DB_READ_ONLY) != 0 && !pool_is_down(&t->replica) && db_replica_readable())
        return &t->replica;
    return &t->primary;
}

static void pool_enqueue(struct pool *pool, booka_db_query_t *q, int at_front)
{
    q->pool = pool;
    q->queued_at = booka_clock_us();
    h2o_linklist_insert(at_front ? pool->waiting.next : &pool->waiting, &q->link);
    ++pool->num_waiting;
}

/* pool_fail_waiting: the pool is down: its waiting read-only queries move to the primary when that is up, the others
 * fail with UNAVAILABLE. */
static void pool_fail_waiting(struct pool *pool)
{
    struct pool *primary = &pool->thread->primary;

    while (!h2o_linklist_is_empty(&pool->waiting)) {
        booka_db_query_t *q = H2O_STRUCT_FROM_MEMBER(booka_db_query_t, link, pool->waiting.next);
        h2o_linklist_unlink(&q->link);
        --pool->num_waiting;
        if (pool != primary && (q->flags & BOOKA_DB_READ_ONLY) != 0 && !pool_is_down(primary)) {
            q->min_generation = 0;
            pool_enqueue(primary, q, 0);
        } else {
            query_fail_later(q, BOOKA_DB_UNAVAILABLE);
        }
    }
    if (pool != primary)
        pool_dispatch(primary);
}

/* conn_set_state: every change of a connection's state goes through here, so the per-state gauges stay exact. */
static void conn_set_state(struct conn *conn, enum conn_state state)
{
    --conn->pool->num_in_state[conn->state];
    ++conn->pool->num_in_state[state];
    conn->state = state;
}

/* ---- connection sockets ---- */

static void on_conn_write(h2o_socket_t *sock, const char *err);

/* conn_attach_socket: makes conn->sock watch libpq's current socket, replacing the dup when libpq's socket changed
 * (compared by inode: a new socket may reuse the old descriptor number). Returns 0, or -1 on failure. */
static int conn_attach_socket(struct conn *conn)
{
    int fd = PQsocket(conn->pg), dupfd;
    struct stat st;

    if (fd < 0 || fstat(fd, &st) != 0)
        return -1;
    if (conn->sock != NULL && st.st_dev == conn->sock_dev && st.st_ino == conn->sock_ino)
        return 0;
    if (conn->sock != NULL) {
        h2o_socket_close(conn->sock);
        conn->sock = NULL;
    }
    if ((dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
        return -1;
    conn->sock = h2o_evloop_socket_create(conn->pool->thread->loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    conn->sock->data = conn;
    conn->sock_dev = st.st_dev;
    conn->sock_ino = st.st_ino;
    return 0;
}

static void conn_forget_prepared(struct conn *conn)
{
    for (size_t i = 0; i != conn->num_prepared; ++i)
        free(conn->prepared[i].sql);
    free(conn->prepared);
    conn->prepared = NULL;
    conn->num_prepared = 0;
}

/* conn_close: releases everything the connection holds; it becomes CONN_DOWN (its running query is the caller's). */
static void conn_close(struct conn *conn)
{
    struct pool *pool = conn->pool;

    if (conn->lookup != NULL) {
        h2o_hostinfo_getaddr_cancel(conn->lookup);
        conn->lookup = NULL;
    }
    if (conn->addrs != NULL) {
        for (size_t i = 0; i != pool->target->num_hosts; ++i)
            free(conn->addrs[i]);
        free(conn->addrs);
        conn->addrs = NULL;
    }
    if (h2o_timeout_is_linked(&conn->timer))
        h2o_timeout_unlink(&conn->timer);
    if (h2o_linklist_is_linked(&conn->idle_link))
        h2o_linklist_unlink(&conn->idle_link);
    if (conn->sock != NULL) {
        h2o_socket_close(conn->sock);
        conn->sock = NULL;
    }
    if (conn->pg != NULL) {
        PQfinish(conn->pg);
        conn->pg = NULL;
    }
    if (conn->state == CONN_IDLE || conn->state == CONN_BUSY || conn->state == CONN_CANCELLING)
        --pool->live;
    conn_forget_prepared(conn);
    conn->next_name = 0; /* the next session starts without statements */
    conn->cancel_pending = 0;
    ++conn->serial;
    conn_set_state(conn, CONN_DOWN);
}

/* ---- reconnecting ---- */

static uint64_t backoff_delay(unsigned failures)
{
    uint64_t delay = FIRST_RECONNECT_DELAY;
    while (--failures != 0 && delay < db_settings.max_reconnect_delay)
        delay *= 2;
    if (delay > db_settings.max_reconnect_delay)
        delay = db_settings.max_reconnect_delay;
    return delay / 2 + (uint64_t)random() % (delay / 2 + 1); /* jitter: threads and instances do not knock in step */
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    struct db_thread *t = H2O_STRUCT_FROM_MEMBER(struct db_thread, tick_entry, entry);
    uint64_t now = h2o_now(t->loop);
    int pending = 0;
    struct pool *pools[] = {&t->primary, t->has_replica ? &t->replica : NULL};

    for (size_t p = 0; p != 2 && pools[p] != NULL; ++p) {
        for (size_t i = 0; i != db_settings.pool_size; ++i) {
            struct conn *conn = pools[p]->conns + i;
            if (conn->state != CONN_DOWN)
                continue;
            if (conn->next_attempt_at <= now)
                conn_start(conn);
            else
                pending = 1;
        }
    }
    if (pending && !h2o_timeout_is_linked(&t->tick_entry))
        h2o_timeout_link(t->loop, &t->tick, &t->tick_entry);
}

static void conn_schedule_reconnect(struct conn *conn, uint64_t delay)
{
    struct db_thread *t = conn->pool->thread;
    conn->next_attempt_at = h2o_now(t->loop) + delay;
    if (!h2o_timeout_is_linked(&t->tick_entry))
        h2o_timeout_link(t->loop, &t->tick, &t->tick_entry);
}

/* conn_connect_failed: one attempt failed: back off (with jitter), and when no attempt is left in progress and nothing
 * is connected, the pool is down: its waiting queries are answered now rather than at their deadline. */
static void conn_connect_failed(struct conn *conn, const char *why)
{
    struct pool *pool = conn->pool;
    uint64_t delay;

    if (pool->consecutive_failures++ == 0) /* logged before conn_close: `why` may be libpq's message */
        booka_log(NULL, "db", "%s: cannot connect: %s", pool->name, why);
    conn_close(conn);
    ++pool->stats.failures;
    delay = backoff_delay(pool->consecutive_failures);
    conn_schedule_reconnect(conn, delay);
    if (pool->live != 0)
        return;
    if (pool->down_until < conn->next_attempt_at)
        pool->down_until = conn->next_attempt_at;
    for (size_t i = 0; i != db_settings.pool_size; ++i)
        if (pool->conns[i].state == CONN_RESOLVING || pool->conns[i].state == CONN_CONNECTING)
            return;
    pool_fail_waiting(pool);
}

static void on_connect_timeout(h2o_timeout_entry_t *entry)
{
    struct conn *conn = H2O_STRUCT_FROM_MEMBER(struct conn, timer, entry);
    conn_connect_failed(conn, "connect timeout");
}

static void on_notice(void *arg, const char *message)
{
    struct conn *conn = arg;
    booka_log(NULL, "db", "%s: %s", conn->pool->name, message);
}

/* conn_connected: PQconnectPoll said OK: non-blocking pipeline mode, then the connection joins the idle list. */
static void conn_connected(struct conn *conn)
{
    struct pool *pool = conn->pool;

    if (PQsetnonblocking(conn->pg, 1) != 0 || !PQenterPipelineMode(conn->pg) || conn_attach_socket(conn) != 0) {
        conn_connect_failed(conn, PQerrorMessage(conn->pg));
        return;
    }
    PQsetNoticeProcessor(conn->pg, on_notice, conn);
    h2o_timeout_unlink(&conn->timer);
    if (pool->consecutive_failures != 0)
        booka_log(NULL, "db", "%s: connected again after %u failed attempts", pool->name, pool->consecutive_failures);
    pool->consecutive_failures = 0;
    pool->down_until = 0;
    conn_set_state(conn, CONN_IDLE);
    conn->idle_since = h2o_now(pool->thread->loop);
    conn->born = pool->generation;
    ++pool->live;
    h2o_linklist_insert(pool->idle.next, &conn->idle_link);
    h2o_socket_read_start(conn->sock, on_conn_read);
    pool_dispatch(pool);
}

/* conn_connect_poll: one PQconnectPoll step, then wait for the readiness it asks for (and only that: a spurious call
 * while the TCP connect is in progress would take it as complete). */
static void conn_connect_poll(struct conn *conn)
{
    PostgresPollingStatusType status = PQconnectPoll(conn->pg);

    if (status == PGRES_POLLING_OK) {
        conn_connected(conn);
        return;
    }
    if (status != PGRES_POLLING_READING && status != PGRES_POLLING_WRITING) {
        conn_connect_failed(conn, PQerrorMessage(conn->pg));
        return;
    }
    if (conn_attach_socket(conn) != 0) {
        conn_connect_failed(conn, "cannot watch the connection's socket");
        return;
    }
    conn->connect_wants_write = status == PGRES_POLLING_WRITING;
    if (conn->connect_wants_write) {
        h2o_socket_read_stop(conn->sock);
        if (!h2o_socket_is_writing(conn->sock))
            h2o_socket_notify_write(conn->sock, on_conn_write);
    } else {
        h2o_socket_read_start(conn->sock, on_conn_read);
    }
}

/* join_addresses: the host, hostaddr and port lists for one attempt: each host name becomes one entry per address. */
static void join_addresses(struct conn *conn, booka_buf_t *hosts, booka_buf_t *addrs, booka_buf_t *ports)
{
    db_target_t *target = conn->pool->target;

    for (size_t i = 0; i != target->num_hosts; ++i) {
        const char *port = target->ports == NULL ? NULL : target->ports[i < target->num_ports ? i : 0];
        const char *a = target->resolve[i] ? conn->addrs[i] : "";
        do {
            size_t len = strcspn(a, ",");
            const char *sep = hosts->len == 0 ? "" : ",";
            booka_buf_appendf(hosts, "%s%s", sep, target->hosts[i]);
            booka_buf_appendf(addrs, "%s%.*s", sep, (int)len, a);
            if (port != NULL)
                booka_buf_appendf(ports, "%s%s", sep, port);
            a += len + (a[len] == ',');
        } while (*a != '\0');
    }
    booka_buf_append(hosts, "", 1);
    booka_buf_append(addrs, "", 1);
    booka_buf_append(ports, "", 1);
}

/* conn_connect: starts the libpq connection (every host already numeric, a socket, or resolved into addrs). */
static void conn_connect(struct conn *conn)
{
    db_target_t *target = conn->pool->target;
    booka_buf_t hosts = {NULL}, addrs = {NULL}, ports = {NULL};
    const char **values = target->values;
    size_t n = 0;

    if (target->resolve != NULL) {
        while (target->keywords[n] != NULL)
            ++n;
        values = h2o_mem_alloc((n + 1) * sizeof(*values));
        memcpy(values, target->values, (n + 1) * sizeof(*values));
        join_addresses(conn, &hosts, &addrs, &ports);
        values[target->host_index] = hosts.base;
        values[target->hostaddr_index] = addrs.base;
        if (target->port_index != SIZE_MAX && target->num_ports > 1)
            values[target->port_index] = ports.base;
    }
    conn->pg = PQconnectStartParams(target->keywords, values, 0); /* copies every value */
    if (values != target->values)
        free(values);
    booka_buf_free(&hosts);
    booka_buf_free(&addrs);
    booka_buf_free(&ports);
    if (conn->pg == NULL) {
        conn_connect_failed(conn, "out of memory");
        return;
    }
    if (PQstatus(conn->pg) == CONNECTION_BAD) {
        conn_connect_failed(conn, PQerrorMessage(conn->pg));
        return;
    }
    conn_set_state(conn, CONN_CONNECTING);
    if (conn_attach_socket(conn) != 0) {
        conn_connect_failed(conn, "cannot watch the connection's socket");
        return;
    }
    /* libpq: after PQconnectStart, behave as if PQconnectPoll had returned PGRES_POLLING_WRITING */
    conn->connect_wants_write = 1;
    h2o_socket_notify_write(conn->sock, on_conn_write);
}

static void conn_lookup_next(struct conn *conn);

static void on_lookup(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    struct conn *conn = data;
    db_target_t *target = conn->pool->target;
    booka_buf_t list = {NULL};
    char why[256];

    conn->lookup = NULL;
    if (errstr != NULL) {
        snprintf(why, sizeof(why), "cannot resolve %s: %s", target->hosts[conn->lookup_index], errstr);
        conn_connect_failed(conn, why);
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        char addr[INET6_ADDRSTRLEN];
        const void *src = ai->ai_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                                    : (void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) && inet_ntop(ai->ai_family, src, addr, sizeof(addr)) != NULL)
            booka_buf_appendf(&list, "%s%s", list.len == 0 ? "" : ",", addr);
    }
    booka_buf_append(&list, "", 1);
    if (list.oom || list.len <= 1) {
        booka_buf_free(&list);
        snprintf(why, sizeof(why), "cannot resolve %s", target->hosts[conn->lookup_index]);
        conn_connect_failed(conn, why);
        return;
    }
    conn->addrs[conn->lookup_index++] = list.base;
    conn_lookup_next(conn);
}

/* conn_lookup_next: resolves the next host name of the list on h2o's resolver threads, or connects once all are. */
static void conn_lookup_next(struct conn *conn)
{
    db_target_t *target = conn->pool->target;

    while (conn->lookup_index != target->num_hosts && !target->resolve[conn->lookup_index])
        ++conn->lookup_index;
    if (conn->lookup_index == target->num_hosts) {
        conn_connect(conn);
        return;
    }
    conn->lookup = h2o_hostinfo_getaddr(
        &conn->pool->thread->ctx->receivers.hostinfo_getaddr,
        h2o_iovec_init(target->hosts[conn->lookup_index], strlen(target->hosts[conn->lookup_index])),
        h2o_iovec_init(H2O_STRLIT("5432")), AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_lookup, conn);
}

/* conn_start: one connection attempt, bounded by connect-timeout. */
static void conn_start(struct conn *conn)
{
    struct pool *pool = conn->pool;

    conn_set_state(conn, CONN_RESOLVING);
    conn->timer.cb = on_connect_timeout;
    h2o_timeout_link(pool->thread->loop, &pool->connect_timeout, &conn->timer);
    if (pool->target->resolve != NULL) {
        conn->addrs = calloc(pool->target->num_hosts, sizeof(*conn->addrs));
        conn->lookup_index = 0;
        conn_lookup_next(conn);
    } else {
        conn_connect(conn);
    }
}

/* ---- running queries ---- */

static void conn_flush(struct conn *conn)
{
    int ret = PQflush(conn->pg);
    if (ret < 0)
        conn_lost(conn, PQerrorMessage(conn->pg));
    else if (ret > 0 && !h2o_socket_is_writing(conn->sock))
        h2o_socket_notify_write(conn->sock, on_conn_write);
}

/* conn_prepared_index: the index of the named statement holding `sql` on this connection, adding it under a new name
 * (*is_new set) when there is room; -1 when the cache is full. */
static ssize_t conn_prepared_index(struct conn *conn, const char *sql, uint64_t hash, int *is_new)
{
    *is_new = 0;
    for (size_t i = 0; i != conn->num_prepared; ++i)
        if (conn->prepared[i].hash == hash && strcmp(conn->prepared[i].sql, sql) == 0)
            return i;
    if (conn->num_prepared == PREPARED_MAX)
        return -1;
    if (conn->prepared == NULL)
        conn->prepared = h2o_mem_alloc(PREPARED_MAX * sizeof(*conn->prepared));
    conn->prepared[conn->num_prepared] = (struct prepared){hash, h2o_strdup(NULL, sql, SIZE_MAX).base, conn->next_name++};
    *is_new = 1;
    return conn->num_prepared++;
}

/* conn_unprepare: forgets a statement whose Prepare failed or never ran (an earlier command of its pipeline failed, e.g.
 * a Prepare cancelled while it waited for a lock), so its next use prepares it again, under a new name. */
static void conn_unprepare(struct conn *conn, const char *sql)
{
    for (size_t i = 0; i != conn->num_prepared; ++i) {
        if (strcmp(conn->prepared[i].sql, sql) == 0) {
            free(conn->prepared[i].sql);
            conn->prepared[i] = conn->prepared[--conn->num_prepared];
            return;
        }
    }
}

/* conn_unprepare_current: conn_unprepare for the command whose result just arrived, when it is a Prepare. */
static void conn_unprepare_current(struct conn *conn)
{
    if (conn->command_index < conn->num_commands && conn->commands[conn->command_index].kind == CMD_PREPARE)
        conn_unprepare(conn, conn->query->statements[conn->commands[conn->command_index].statement].sql);
}

/* conn_send: sends `q` as one pipeline: for each statement Prepare (when new here) and Execute, then Sync. Without
 * pgBouncer, statements are named per connection so Postgres parses and plans each SQL shape once; with it, every
 * statement is unnamed (PQsendQueryParams), which transaction pooling supports. */
static void conn_send(struct conn *conn, booka_db_query_t *q)
{
    struct pool *pool = conn->pool;
    char name[32];

    h2o_linklist_unlink(&q->link);
    --pool->num_waiting;
    h2o_linklist_unlink(&conn->idle_link);
    conn_set_state(conn, CONN_BUSY);
    conn->query = q;
    conn->num_commands = 0;
    conn->command_index = 0;
    q->conn = conn;
    q->pool = pool;
    q->sent_at = booka_clock_us();
    booka_histogram_observe(&queue_wait[pool->target_index], q->sent_at > q->queued_at ? q->sent_at - q->queued_at : 0);
    ++pool->stats.queries;
    for (size_t i = 0; i != q->num_statements; ++i) {
        const char *sql = q->statements[i].sql;
        int n = (int)q->statements[i].num_params, is_new;
        ssize_t index = db_settings.pgbouncer ? -1 : conn_prepared_index(conn, sql, q->statements[i].hash, &is_new);
        if (index >= 0) {
            snprintf(name, sizeof(name), "booka_%" PRIu64, conn->prepared[index].name);
            if (is_new) {
                if (!PQsendPrepare(conn->pg, name, sql, n, NULL))
                    goto Lost;
                conn->commands[conn->num_commands++] = (typeof(conn->commands[0])){CMD_PREPARE, i};
            }
            if (!PQsendQueryPrepared(conn->pg, name, n, q->statements[i].values, NULL, NULL, 0))
                goto Lost;
        } else if (!PQsendQueryParams(conn->pg, sql, n, NULL, q->statements[i].values, NULL, NULL, 0)) {
            goto Lost;
        }
        conn->commands[conn->num_commands++] = (typeof(conn->commands[0])){CMD_EXECUTE, i};
    }
    if (!PQpipelineSync(conn->pg))
        goto Lost;
    conn_flush(conn);
    return;
Lost:
    conn_lost(conn, PQerrorMessage(conn->pg));
}

/* conn_validate: a connection idle for a while is checked before use, without a round trip: whatever the server sent
 * meanwhile (an ErrorResponse and EOF from pg_terminate_backend, idle_session_timeout, a shutdown) is read now, even when
 * the loop has not reported it yet. A connection in steady use is not polled (the loop watches it, and a failure before
 * any result is retried anyway). Returns whether the connection is usable. */
static int conn_validate(struct conn *conn)
{
    struct pollfd p = {.fd = PQsocket(conn->pg), .events = POLLIN};

    if (h2o_now(conn->pool->thread->loop) - conn->idle_since < VALIDATE_AFTER_IDLE)
        return PQstatus(conn->pg) == CONNECTION_OK;
    if (poll(&p, 1, 0) == 1 && !PQconsumeInput(conn->pg))
        return 0;
    return PQstatus(conn->pg) == CONNECTION_OK;
}

static void pool_dispatch(struct pool *pool)
{
    for (;;) {
        booka_db_query_t *q = NULL;
        struct conn *conn = NULL;
        /* the first waiting query with an eligible idle connection (a retry needs one that came up after its failure) */
        for (h2o_linklist_t *w = pool->waiting.next; conn == NULL && w != &pool->waiting; w = w->next) {
            q = H2O_STRUCT_FROM_MEMBER(booka_db_query_t, link, w);
            for (h2o_linklist_t *c = pool->idle.next; c != &pool->idle; c = c->next) {
                struct conn *candidate = H2O_STRUCT_FROM_MEMBER(struct conn, idle_link, c);
                if (candidate->born >= q->min_generation) {
                    conn = candidate;
                    break;
                }
            }
        }
        if (conn == NULL)
            return;
        if (!conn_validate(conn)) {
            conn_lost(conn, PQerrorMessage(conn->pg));
            continue;
        }
        conn_send(conn, q);
    }
}

/* conn_release: the connection has no query; it is reused once a cancel sent to it has landed. */
static void conn_release(struct conn *conn)
{
    if (conn->cancel_pending) {
        conn_set_state(conn, CONN_CANCELLING); /* the cancel grace timer is still linked */
        return;
    }
    if (h2o_timeout_is_linked(&conn->timer))
        h2o_timeout_unlink(&conn->timer);
    conn_set_state(conn, CONN_IDLE);
    conn->idle_since = h2o_now(conn->pool->thread->loop);
    h2o_linklist_insert(conn->pool->idle.next, &conn->idle_link);
}

static int sqlstate_is(const booka_db_query_t *q, const char *prefix)
{
    return strncmp(q->sqlstate, prefix, strlen(prefix)) == 0;
}

/* query_retry: a read-only query that got no result yet goes back to the front of the queue, once. */
static int query_retry(booka_db_query_t *q, uint64_t min_generation)
{
    struct pool *pool;

    if ((q->flags & BOOKA_DB_READ_ONLY) == 0 || q->retried || q->got_result || q->answered)
        return 0;
    q->retried = 1;
    q->sqlstate[0] = '\0';
    ++q->pool->stats.retries;
    pool = pool_for(q->thread, q);
    q->min_generation = pool == q->pool ? min_generation : 0;
    pool_enqueue(pool, q, 1);
    return 1;
}

/* conn_query_done: the pipeline's Sync arrived: the query is answered (or retried) and the connection released. */
static void conn_query_done(struct conn *conn)
{
    struct pool *pool = conn->pool;
    booka_db_query_t *q = conn->query;
    booka_db_status_t status = BOOKA_DB_OK;
    struct pool *retry_pool = NULL;

    booka_histogram_observe_since(&query_duration[pool->target_index], q->sent_at);
    conn->query = NULL;
    q->conn = NULL;
    conn_release(conn);
    if (q->sqlstate[0] != '\0') {
        for (size_t i = 0; i != q->num_statements; ++i)
            if (q->results[i] != NULL) {
                PQclear(q->results[i]);
                q->results[i] = NULL;
            }
        q->got_result = 0;
        if (sqlstate_is(q, "57014")) {
            status = BOOKA_DB_TIMEOUT; /* statement_timeout, or our cancel */
        } else if (sqlstate_is(q, "26000") || sqlstate_is(q, "0A000")) {
            /* a prepared statement vanished (DISCARD ALL, a pooler switching servers) or its plan no longer fits the
             * schema: forget this connection's statements and run the query again */
            conn_forget_prepared(conn);
            status = BOOKA_DB_QUERY_ERROR;
            if (query_retry(q, 0))
                retry_pool = q->pool;
        } else if (sqlstate_is(q, "08") || sqlstate_is(q, "57P")) {
            status = BOOKA_DB_UNAVAILABLE;
            if (query_retry(q, pool->generation))
                retry_pool = q->pool;
        } else {
            status = BOOKA_DB_QUERY_ERROR;
        }
    }
    if (retry_pool == NULL)
        query_answer(q, status);
    pool_dispatch(pool);
    if (retry_pool != NULL && retry_pool != pool)
        pool_dispatch(retry_pool);
}

/* conn_record_error: the first error of the pipeline is the query's; a failed Prepare is forgotten. */
static void conn_record_error(struct conn *conn, const PGresult *res)
{
    booka_db_query_t *q = conn->query;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    conn_unprepare_current(conn);
    if (q->sqlstate[0] != '\0')
        return;
    snprintf(q->sqlstate, sizeof(q->sqlstate), "%s", state != NULL ? state : "XX000");
    if (!sqlstate_is(q, "57014") && !sqlstate_is(q, "08") && !sqlstate_is(q, "57P"))
        booka_log_id(q->request_id, "db", "%s: query failed (%s): %s", conn->pool->name, q->sqlstate, PQresultErrorMessage(res));
}

/* conn_read_results: consumes what arrived; results are collected per Execute until the Sync. */
static void conn_read_results(struct conn *conn)
{
    if (!PQconsumeInput(conn->pg)) {
        conn_lost(conn, PQerrorMessage(conn->pg));
        return;
    }
    while (conn->query != NULL && !PQisBusy(conn->pg)) {
        booka_db_query_t *q = conn->query;
        PGresult *res = PQgetResult(conn->pg);
        if (res == NULL) { /* end of one command's results */
            if (conn->command_index == conn->num_commands)
                break;
            ++conn->command_index;
            continue;
        }
        switch (PQresultStatus(res)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(res);
            conn_query_done(conn);
            return;
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
            if (conn->command_index < conn->num_commands && conn->commands[conn->command_index].kind == CMD_EXECUTE) {
                size_t i = conn->commands[conn->command_index].statement;
                if (q->results[i] == NULL) {
                    q->results[i] = res;
                    q->got_result = 1;
                    res = NULL;
                }
            }
            break;
        case PGRES_PIPELINE_ABORTED:
            conn_unprepare_current(conn); /* a Prepare skipped after an earlier error never ran */
            break;
        default:
            conn_record_error(conn, res);
            break;
        }
        if (res != NULL)
            PQclear(res);
    }
    if (PQstatus(conn->pg) == CONNECTION_BAD)
        conn_lost(conn, PQerrorMessage(conn->pg));
}

static void on_conn_read(h2o_socket_t *sock, const char *err)
{
    struct conn *conn = sock->data;

    switch (conn->state) {
    case CONN_CONNECTING:
        if (!conn->connect_wants_write)
            conn_connect_poll(conn);
        break;
    case CONN_IDLE:
        /* the server spoke while nothing ran: most likely a termination (pg_terminate_backend, idle_session_timeout,
         * shutdown) and EOF; replace the connection now rather than when a request needs it */
        if (!PQconsumeInput(conn->pg) || PQstatus(conn->pg) != CONNECTION_OK) {
            conn_lost(conn, PQerrorMessage(conn->pg));
        } else {
            PGnotify *n;
            while ((n = PQnotifies(conn->pg)) != NULL)
                PQfreemem(n);
        }
        break;
    case CONN_BUSY:
    case CONN_CANCELLING:
        conn_read_results(conn);
        break;
    default:
        break;
    }
}

static void on_conn_write(h2o_socket_t *sock, const char *err)
{
    struct conn *conn = sock->data;

    switch (conn->state) {
    case CONN_CONNECTING:
        if (conn->connect_wants_write)
            conn_connect_poll(conn);
        break;
    case CONN_BUSY:
    case CONN_CANCELLING:
        if (conn->query != NULL)
            conn_flush(conn);
        break;
    default:
        break;
    }
}

/* conn_lost: a connection that was up failed. Its query is retried on a fresh connection when that is safe (read-only,
 * no result yet), else answered UNAVAILABLE; the connection is replaced at once, since usually only it is gone. */
static void conn_lost(struct conn *conn, const char *why)
{
    struct pool *pool = conn->pool, *retry_pool = NULL;
    booka_db_query_t *q = conn->query;

    booka_log_id(q != NULL ? q->request_id : NULL, "db", "%s: connection lost%s: %s", pool->name,
                 q != NULL ? " while running a query" : "", why != NULL && why[0] != '\0' ? why : "unknown error");
    conn->query = NULL;
    conn_close(conn);
    ++pool->generation;
    if (q != NULL) {
        q->conn = NULL;
        for (size_t i = 0; !q->got_result && i != q->num_statements; ++i)
            if (q->results[i] != NULL) {
                PQclear(q->results[i]);
                q->results[i] = NULL;
            }
        if (q->answered)
            query_free(q);
        else if (query_retry(q, pool->generation))
            retry_pool = q->pool;
        else
            query_fail_later(q, BOOKA_DB_UNAVAILABLE);
    }
    conn_start(conn);
    if (retry_pool != NULL && retry_pool != pool)
        pool_dispatch(retry_pool);
}

/* ---- deadlines and cancellation ---- */

static void on_cancel_grace(h2o_timeout_entry_t *entry)
{
    struct conn *conn = H2O_STRUCT_FROM_MEMBER(struct conn, timer, entry);
    conn_lost(conn, "a cancelled statement did not stop within cancel-grace; replacing the connection");
}

/* on_deadline: a waiting query is answered TIMEOUT and dropped; a running one is answered TIMEOUT now, and its statement
 * cancelled: the connection is reused once the cancel has landed and the pipeline has ended, or replaced after the
 * cancel grace. */
static void on_deadline(h2o_timeout_entry_t *entry)
{
    booka_db_query_t *q = H2O_STRUCT_FROM_MEMBER(booka_db_query_t, deadline, entry);
    struct conn *conn = q->conn;

    ++q->pool->stats.timeouts;
    if (conn == NULL) {
        h2o_linklist_unlink(&q->link);
        --q->pool->num_waiting;
        query_answer(q, BOOKA_DB_TIMEOUT);
        return;
    }
    if (conn->state == CONN_BUSY) {
        conn_set_state(conn, CONN_CANCELLING);
        conn->cancel_pending = 1;
        db_cancel_async(conn->pg, &q->thread->cancel_replies, conn, conn->serial);
        conn->timer.cb = on_cancel_grace;
        h2o_timeout_link(q->thread->loop, &conn->pool->cancel_grace, &conn->timer);
    }
    query_callback(q, BOOKA_DB_TIMEOUT, 0);
}

static void on_cancel_replies(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        db_cancel_reply_t *reply = H2O_STRUCT_FROM_MEMBER(db_cancel_reply_t, super.link, messages->next);
        struct conn *conn = reply->conn;
        h2o_linklist_unlink(&reply->super.link);
        if (conn->serial == reply->serial && conn->cancel_pending) {
            conn->cancel_pending = 0;
            if (conn->query == NULL && conn->state == CONN_CANCELLING) {
                conn_release(conn);
                pool_dispatch(conn->pool);
            }
        }
        free(reply);
    }
}

/* ---- per-thread state ---- */

/* A context's pools live in a thread-local list (normally of one): h2o_context_get_storage hands out its keys from a
 * static without a lock, which is racy when threads start together. The list is intrusive (linked through next_here)
 * so it allocates nothing that would be lost with the thread's TLS: each db_thread stays reachable from its context's
 * queue (the cancel_replies receiver), and LeakSanitizer sees nothing leaked at exit. */
static __thread struct db_thread *threads_here;

/* Every pool of the process, for /metrics: pools are created on their threads and never freed. */
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static H2O_VECTOR(struct pool *) registry;

static void pool_init(struct pool *pool, struct db_thread *t, db_target_t *target, enum pool_target index)
{
    pool->thread = t;
    pool->target_index = index;
    pool->name = target_names[index];
    pool->target = target;
    pool->conns = h2o_mem_alloc(db_settings.pool_size * sizeof(*pool->conns));
    memset(pool->conns, 0, db_settings.pool_size * sizeof(*pool->conns));
    h2o_linklist_init_anchor(&pool->idle);
    h2o_linklist_init_anchor(&pool->waiting);
    h2o_timeout_init(t->loop, &pool->connect_timeout, db_settings.connect_timeout);
    h2o_timeout_init(t->loop, &pool->cancel_grace, db_settings.cancel_grace);
    for (size_t i = 0; i != db_settings.pool_size; ++i)
        pool->conns[i].pool = pool;
    pool->num_in_state[CONN_DOWN] = db_settings.pool_size;
    pthread_mutex_lock(&registry_mutex);
    h2o_vector_reserve(NULL, &registry, registry.size + 1);
    registry.entries[registry.size++] = pool;
    pthread_mutex_unlock(&registry_mutex);
}

static void pool_start(struct pool *pool)
{
    for (size_t i = 0; i != db_settings.pool_size; ++i)
        conn_start(pool->conns + i);
}

/* thread_get: ctx's pools, created (and connecting) on first use; NULL when no database is configured. */
static struct db_thread *thread_get(h2o_context_t *ctx)
{
    struct db_thread *t;

    for (t = threads_here; t != NULL; t = t->next_here)
        if (t->ctx == ctx)
            return t;
    if (db_settings.primary.keywords == NULL)
        return NULL;
    t = h2o_mem_alloc(sizeof(*t));
    memset(t, 0, sizeof(*t));
    t->ctx = ctx;
    t->loop = ctx->loop;
    h2o_timeout_init(t->loop, &t->query_timeout, db_settings.query_timeout);
    h2o_timeout_init(t->loop, &t->immediate, 0);
    h2o_timeout_init(t->loop, &t->tick, TICK_MS);
    t->tick_entry.cb = on_tick;
    h2o_multithread_register_receiver(ctx->queue, &t->cancel_replies, on_cancel_replies);
    pool_init(&t->primary, t, &db_settings.primary, TARGET_PRIMARY);
    if ((t->has_replica = db_settings.replica.keywords != NULL))
        pool_init(&t->replica, t, &db_settings.replica, TARGET_REPLICA);
    t->next_here = threads_here;
    threads_here = t;
    pool_start(&t->primary);
    if (t->has_replica)
        pool_start(&t->replica);
    return t;
}

void booka_db_context_init(h2o_context_t *ctx)
{
    thread_get(ctx);
}

booka_db_status_t booka_db_submit(h2o_context_t *ctx, booka_db_query_t *q)
{
    struct db_thread *t = thread_get(ctx);
    struct pool *pool;

    if (t == NULL) {
        query_free(q);
        return BOOKA_DB_UNAVAILABLE;
    }
    q->thread = t;
    q->submitted_at = booka_clock_us();
    pool = pool_for(t, q);
    if (pool_is_down(pool)) {
        ++pool->stats.failures;
        query_free(q);
        return BOOKA_DB_UNAVAILABLE;
    }
    if (h2o_linklist_is_empty(&pool->idle)) {
        if (pool->num_waiting >= db_settings.queue_limit) {
            ++pool->stats.queue_full;
            query_free(q);
            return BOOKA_DB_QUEUE_FULL;
        }
        ++pool->stats.waits;
    }
    q->deadline.cb = on_deadline;
    h2o_timeout_link(t->loop, &t->query_timeout, &q->deadline);
    pool_enqueue(pool, q, 0);
    pool_dispatch(pool);
    return BOOKA_DB_OK;
}

void booka_db_query_abandon(booka_db_query_t *q)
{
    if (q->answered)
        return;
    q->answered = 1;
    if (q->conn != NULL)
        return; /* it ends on its connection (its deadline still bounds it) */
    if (h2o_linklist_is_linked(&q->link)) {
        h2o_linklist_unlink(&q->link);
        --q->pool->num_waiting;
    }
    if (h2o_timeout_is_linked(&q->deadline))
        h2o_timeout_unlink(&q->deadline);
    query_free(q);
}

const char *booka_db_status_message(booka_db_status_t status)
{
    switch (status) {
    case BOOKA_DB_OK:
        return "ok";
    case BOOKA_DB_QUEUE_FULL:
        return "the database pool's queue is full (queue-limit)";
    case BOOKA_DB_UNAVAILABLE:
        return "the database is unavailable";
    case BOOKA_DB_TIMEOUT:
        return "the database did not answer within query-timeout";
    case BOOKA_DB_QUERY_ERROR:
        break;
    }
    return "the query failed";
}

unsigned booka_db_retry_after(h2o_context_t *ctx)
{
    struct db_thread *t = thread_get(ctx);
    uint64_t now;

    if (t == NULL || t->primary.down_until == 0)
        return 1;
    now = h2o_now(t->loop);
    return t->primary.down_until <= now + 1000 ? 1 : (unsigned)((t->primary.down_until - now + 999) / 1000);
}

int booka_db_is_up(h2o_context_t *ctx)
{
    struct db_thread *t = thread_get(ctx);
    return t != NULL && t->primary.live != 0;
}

/* pool_snapshot: the pool's numbers, read with atomics (any thread). */
static void pool_snapshot(struct pool *pool, booka_db_stats_t *stats)
{
    *stats = (booka_db_stats_t){
        .connections = atomic_load(&pool->num_in_state[CONN_IDLE]) + atomic_load(&pool->num_in_state[CONN_BUSY]) +
                       atomic_load(&pool->num_in_state[CONN_CANCELLING]),
        .in_use = atomic_load(&pool->num_in_state[CONN_BUSY]) + atomic_load(&pool->num_in_state[CONN_CANCELLING]),
        .idle = atomic_load(&pool->num_in_state[CONN_IDLE]),
        .connecting = atomic_load(&pool->num_in_state[CONN_RESOLVING]) + atomic_load(&pool->num_in_state[CONN_CONNECTING]),
        .down = atomic_load(&pool->num_in_state[CONN_DOWN]),
        .waiting = atomic_load(&pool->num_waiting),
        .queries = atomic_load(&pool->stats.queries),
        .waits = atomic_load(&pool->stats.waits),
        .queue_full = atomic_load(&pool->stats.queue_full),
        .timeouts = atomic_load(&pool->stats.timeouts),
        .retries = atomic_load(&pool->stats.retries),
        .failures = atomic_load(&pool->stats.failures),
    };
}

void booka_db_get_stats(h2o_context_t *ctx, int replica, booka_db_stats_t *stats)
{
    struct db_thread *t = thread_get(ctx);

    memset(stats, 0, sizeof(*stats));
    if (t == NULL || (replica && !t->has_replica))
        return;
    pool_snapshot(replica ? &t->replica : &t->primary, stats);
}

/* process_stats: the sum over every thread's pool of `target`; returns how many pools there are. */
static size_t process_stats(enum pool_target target, booka_db_stats_t *sum)
{
    size_t pools = 0;

    *sum = (booka_db_stats_t){0};
    pthread_mutex_lock(&registry_mutex);
    for (size_t i = 0; i != registry.size; ++i) {
        booka_db_stats_t one;
        if (registry.entries[i]->target_index != target)
            continue;
        pool_snapshot(registry.entries[i], &one);
        sum->connections += one.connections, sum->in_use += one.in_use, sum->idle += one.idle;
        sum->connecting += one.connecting, sum->down += one.down, sum->waiting += one.waiting;
        sum->queries += one.queries, sum->waits += one.waits, sum->queue_full += one.queue_full;
        sum->timeouts += one.timeouts, sum->retries += one.retries, sum->failures += one.failures;
        ++pools;
    }
    pthread_mutex_unlock(&registry_mutex);
    return pools;
}

/* write_histograms: one histogram family with a `pool` label per target that has pools. */
static void write_histograms(booka_buf_t *out, const char *name, const char *help, const booka_histogram_t *by_target,
                             const size_t *pools)
{
    char labels[32];

    booka_metrics_write_header(out, name, "histogram", help);
    for (size_t t = 0; t != NUM_TARGETS; ++t) {
        snprintf(labels, sizeof(labels), "pool=\"%s\"", target_names[t]);
        if (pools[t] != 0)
            booka_metrics_write_histogram(out, name, labels, &by_target[t]);
    }
}

void booka_db_collect_metrics(booka_buf_t *out)
{
    static const struct {
        const char *name, *type, *help;
        size_t offset;     /* of a uint64_t in booka_db_stats_t */
        const char *state; /* booka_db_pool_connections' state label, else NULL */
    } families[] = {
        {"booka_db_pool_connections", "gauge",
         "Postgres connections of the pools (pool-size per thread), by state: in_use (running a query or winding one "
         "down), idle, connecting, down (waiting to reconnect).",
         offsetof(booka_db_stats_t, in_use), "in_use"},
        {"booka_db_pool_connections", NULL, NULL, offsetof(booka_db_stats_t, idle), "idle"},
        {"booka_db_pool_connections", NULL, NULL, offsetof(booka_db_stats_t, connecting), "connecting"},
        {"booka_db_pool_connections", NULL, NULL, offsetof(booka_db_stats_t, down), "down"},
        {"booka_db_pool_waiting", "gauge", "Queries waiting in the pools' queues for a free connection.",
         offsetof(booka_db_stats_t, waiting), NULL},
        {"booka_db_queries_total", "counter", "Queries sent to Postgres (a retry counts again).",
         offsetof(booka_db_stats_t, queries), NULL},
        {"booka_db_pool_waits_total", "counter", "Queries that found no idle connection and waited in the queue.",
         offsetof(booka_db_stats_t, waits), NULL},
        {"booka_db_pool_queue_full_total", "counter", "Queries refused at once because the queue was full (queue-limit).",
         offsetof(booka_db_stats_t, queue_full), NULL},
        {"booka_db_timeouts_total", "counter", "Queries answered as timed out at their deadline (query-timeout).",
         offsetof(booka_db_stats_t, timeouts), NULL},
        {"booka_db_retries_total", "counter",
         "Read-only queries run again after a lost connection or a vanished prepared statement.",
         offsetof(booka_db_stats_t, retries), NULL},
        {"booka_db_failures_total", "counter",
         "Failed connection attempts, and queries refused or failed because Postgres was unavailable.",
         offsetof(booka_db_stats_t, failures), NULL},
    };
    booka_db_stats_t stats[NUM_TARGETS];
    size_t pools[NUM_TARGETS];
    char labels[64];

    for (size_t t = 0; t != NUM_TARGETS; ++t)
        pools[t] = process_stats(t, &stats[t]);
    for (size_t i = 0; i != sizeof(families) / sizeof(families[0]); ++i) {
        if (families[i].help != NULL)
            booka_metrics_write_header(out, families[i].name, families[i].type, families[i].help);
        for (size_t t = 0; t != NUM_TARGETS; ++t) {
            double value = (double)*(const uint64_t *)((const char *)&stats[t] + families[i].offset);
            if (pools[t] == 0)
                continue;
            if (families[i].state != NULL)
                snprintf(labels, sizeof(labels), "pool=\"%s\",state=\"%s\"", target_names[t], families[i].state);
            else
                snprintf(labels, sizeof(labels), "pool=\"%s\"", target_names[t]);
            booka_metrics_write_sample(out, families[i].name, labels, value);
        }
    }
    write_histograms(out, "booka_db_queue_wait_seconds", "Time queries waited in a pool's queue before being sent on a connection.",
                     queue_wait, pools);
    write_histograms(out, "booka_db_query_duration_seconds",
                     "Time from sending a query on a connection to its last result: the round trip through Postgres (a "
                     "query past its deadline is counted when its cancelled statement ends).",
                     query_duration, pools);
}
