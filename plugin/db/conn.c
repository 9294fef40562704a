/* conn.c: a pool's connections: opening them without blocking the loop (host names resolved on h2o's resolver threads,
 * PQconnectStartParams/PQconnectPoll driven by socket readiness, bounded by connect-timeout), watching their sockets,
 * reconnecting with jittered exponential backoff, and replacing one that is lost. libpq's socket joins the loop as a dup(),
 * because h2o_socket_close closes the fd it owns; the dup is recreated whenever libpq's socket changes (it may open
 * another one while connecting). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "db/pool.h"
#include "http/http.h"

#define FIRST_RECONNECT_DELAY 50
#define VALIDATE_AFTER_IDLE 1000 /* ms idle after which a connection is checked before use */

static void on_conn_read(h2o_socket_t *sock, const char *err);
static void conn_lookup_next(struct conn *conn);

/* db_conn_set_state: every change of a connection's state goes through here, so the per-state gauges stay exact. */
void db_conn_set_state(struct conn *conn, enum conn_state state)
{
    --conn->pool->num_in_state[conn->state];
    ++conn->pool->num_in_state[state];
    conn->state = state;
}

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
    db_conn_forget_prepared(conn);
    conn->next_name = 0; /* the next session starts without statements */
    conn->cancel_pending = 0;
    ++conn->serial;
    db_conn_set_state(conn, CONN_DOWN);
}

static uint64_t backoff_delay(unsigned failures)
{
    uint64_t delay = FIRST_RECONNECT_DELAY;
    while (--failures != 0 && delay < db_settings.max_reconnect_delay)
        delay *= 2;
    if (delay > db_settings.max_reconnect_delay)
        delay = db_settings.max_reconnect_delay;
    return delay / 2 + (uint64_t)random() % (delay / 2 + 1); /* jitter: threads and instances do not knock in step */
}

void db_on_reconnect_tick(h2o_timeout_entry_t *entry)
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
                db_conn_start(conn);
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
    db_pool_fail_waiting(pool);
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
    db_conn_set_state(conn, CONN_IDLE);
    conn->idle_since = h2o_now(pool->thread->loop);
    conn->born = pool->generation;
    ++pool->live;
    h2o_linklist_insert(pool->idle.next, &conn->idle_link);
    h2o_socket_read_start(conn->sock, on_conn_read);
    db_pool_dispatch(pool);
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
            h2o_socket_notify_write(conn->sock, db_on_conn_write);
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
    db_conn_set_state(conn, CONN_CONNECTING);
    if (conn_attach_socket(conn) != 0) {
        conn_connect_failed(conn, "cannot watch the connection's socket");
        return;
    }
    /* libpq: after PQconnectStart, behave as if PQconnectPoll had returned PGRES_POLLING_WRITING */
    conn->connect_wants_write = 1;
    h2o_socket_notify_write(conn->sock, db_on_conn_write);
}

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

/* db_conn_start: one connection attempt, bounded by connect-timeout. */
void db_conn_start(struct conn *conn)
{
    struct pool *pool = conn->pool;

    db_conn_set_state(conn, CONN_RESOLVING);
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

/* db_conn_validate: a connection idle for a while is checked before use, without a round trip: whatever the server sent
 * meanwhile (an ErrorResponse and EOF from pg_terminate_backend, idle_session_timeout, a shutdown) is read now, even when
 * the loop has not reported it yet. A connection in steady use is not polled (the loop watches it, and a failure before
 * any result is retried anyway). Returns whether the connection is usable. */
int db_conn_validate(struct conn *conn)
{
    struct pollfd p = {.fd = PQsocket(conn->pg), .events = POLLIN};

    if (h2o_now(conn->pool->thread->loop) - conn->idle_since < VALIDATE_AFTER_IDLE)
        return PQstatus(conn->pg) == CONNECTION_OK;
    if (poll(&p, 1, 0) == 1 && !PQconsumeInput(conn->pg))
        return 0;
    return PQstatus(conn->pg) == CONNECTION_OK;
}

/* db_conn_release: the connection has no query; it is reused once a cancel sent to it has landed. */
void db_conn_release(struct conn *conn)
{
    if (conn->cancel_pending) {
        db_conn_set_state(conn, CONN_CANCELLING); /* the cancel grace timer is still linked */
        return;
    }
    if (h2o_timeout_is_linked(&conn->timer))
        h2o_timeout_unlink(&conn->timer);
    db_conn_set_state(conn, CONN_IDLE);
    conn->idle_since = h2o_now(conn->pool->thread->loop);
    h2o_linklist_insert(conn->pool->idle.next, &conn->idle_link);
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
            db_conn_lost(conn, PQerrorMessage(conn->pg));
        } else {
            PGnotify *n;
            while ((n = PQnotifies(conn->pg)) != NULL)
                PQfreemem(n);
        }
        break;
    case CONN_BUSY:
    case CONN_CANCELLING:
        db_conn_read_results(conn);
        break;
    default:
        break;
    }
}

void db_on_conn_write(h2o_socket_t *sock, const char *err)
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
            db_conn_flush(conn);
        break;
    default:
        break;
    }
}

/* db_conn_lost: a connection that was up failed. Its query is retried on a fresh connection when that is safe (read-only,
 * no result yet), else answered UNAVAILABLE; the connection is replaced at once, since usually only it is gone. */
void db_conn_lost(struct conn *conn, const char *why)
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
            db_query_free(q);
        else if (db_query_retry(q, pool->generation))
            retry_pool = q->pool;
        else
            db_query_fail_later(q, BOOKA_DB_UNAVAILABLE);
    }
    db_conn_start(conn);
    if (retry_pool != NULL && retry_pool != pool)
        db_pool_dispatch(retry_pool);
}
