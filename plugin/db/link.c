/* link.c: opening one libpq connection on an h2o loop without blocking it (see link.h). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "db/link.h"
#include "http/json.h"

#define FIRST_RECONNECT_DELAY 50

static void link_lookup_next(db_link_t *link);

uint64_t db_link_backoff(unsigned failures)
{
    uint64_t delay = FIRST_RECONNECT_DELAY;
    while (--failures != 0 && delay < db_settings.max_reconnect_delay)
        delay *= 2;
    if (delay > db_settings.max_reconnect_delay)
        delay = db_settings.max_reconnect_delay;
    return delay / 2 + (uint64_t)random() % (delay / 2 + 1);
}

void db_link_close(db_link_t *link)
{
    if (link->lookup != NULL) {
        h2o_hostinfo_getaddr_cancel(link->lookup);
        link->lookup = NULL;
    }
    if (link->addrs != NULL) {
        for (size_t i = 0; i != link->target->num_hosts; ++i)
            free(link->addrs[i]);
        free(link->addrs);
        link->addrs = NULL;
    }
    if (h2o_timeout_is_linked(&link->timer))
        h2o_timeout_unlink(&link->timer);
    if (link->sock != NULL) {
        h2o_socket_close(link->sock);
        link->sock = NULL;
    }
    if (link->pg != NULL) {
        PQfinish(link->pg);
        link->pg = NULL;
    }
    link->opening = 0;
}

/* link_failed: the attempt failed: the link closes, then tells its owner (the message is copied first: it may be libpq's,
 * which PQfinish frees). */
static void link_failed(db_link_t *link, const char *why)
{
    char reason[1024];

    snprintf(reason, sizeof(reason), "%s", why != NULL && why[0] != '\0' ? why : "unknown error");
    db_link_close(link);
    link->on_open(link, reason);
}

/* link_attach_socket: makes link->sock watch libpq's current socket, replacing the dup when libpq's socket changed
 * (compared by inode: a new socket may reuse the old descriptor number). Returns 0, or -1 on failure. */
static int link_attach_socket(db_link_t *link)
{
    int fd = PQsocket(link->pg), dupfd;
    struct stat st;

    if (fd < 0 || fstat(fd, &st) != 0)
        return -1;
    if (link->sock != NULL && st.st_dev == link->sock_dev && st.st_ino == link->sock_ino)
        return 0;
    if (link->sock != NULL) {
        h2o_socket_close(link->sock);
        link->sock = NULL;
    }
    if ((dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
        return -1;
    link->sock = h2o_evloop_socket_create(link->ctx->loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    link->sock->data = link;
    link->sock_dev = st.st_dev;
    link->sock_ino = st.st_ino;
    return 0;
}

void db_link_want_write(db_link_t *link, h2o_socket_cb cb)
{
    if (!h2o_socket_is_writing(link->sock))
        h2o_socket_notify_write(link->sock, cb);
}

static void on_link_read(h2o_socket_t *sock, const char *err);
static void on_link_write(h2o_socket_t *sock, const char *err);

/* link_opened: PQconnectPoll said OK: non-blocking, and the owner takes over the socket. */
static void link_opened(db_link_t *link)
{
    if (PQsetnonblocking(link->pg, 1) != 0 || link_attach_socket(link) != 0) {
        link_failed(link, PQerrorMessage(link->pg));
        return;
    }
    h2o_timeout_unlink(&link->timer);
    h2o_socket_read_stop(link->sock);
    link->opening = 0;
    link->on_open(link, NULL);
}

/* link_poll: one PQconnectPoll step, then wait for the readiness it asks for (and only that: a spurious call while the
 * TCP connect is in progress would take it as complete). */
static void link_poll(db_link_t *link)
{
    PostgresPollingStatusType status = PQconnectPoll(link->pg);

    if (status == PGRES_POLLING_OK) {
        link_opened(link);
        return;
    }
    if (status != PGRES_POLLING_READING && status != PGRES_POLLING_WRITING) {
        link_failed(link, PQerrorMessage(link->pg));
        return;
    }
    if (link_attach_socket(link) != 0) {
        link_failed(link, "cannot watch the connection's socket");
        return;
    }
    link->wants_write = status == PGRES_POLLING_WRITING;
    if (link->wants_write) {
        h2o_socket_read_stop(link->sock);
        db_link_want_write(link, on_link_write);
    } else {
        h2o_socket_read_start(link->sock, on_link_read);
    }
}

static void on_link_read(h2o_socket_t *sock, const char *err)
{
    db_link_t *link = sock->data;
    if (link->opening && !link->wants_write)
        link_poll(link);
}

static void on_link_write(h2o_socket_t *sock, const char *err)
{
    db_link_t *link = sock->data;
    if (link->opening && link->wants_write)
        link_poll(link);
}

static void on_link_timeout(h2o_timeout_entry_t *entry)
{
    db_link_t *link = H2O_STRUCT_FROM_MEMBER(db_link_t, timer, entry);
    link_failed(link, "connect timeout");
}

/* join_addresses: the host, hostaddr and port lists for one attempt: each host name becomes one entry per address. */
static void join_addresses(db_link_t *link, booka_buf_t *hosts, booka_buf_t *addrs, booka_buf_t *ports)
{
    db_target_t *target = link->target;

    for (size_t i = 0; i != target->num_hosts; ++i) {
        const char *port = target->ports == NULL ? NULL : target->ports[i < target->num_ports ? i : 0];
        const char *a = target->resolve[i] ? link->addrs[i] : "";
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

/* link_connect: starts the libpq connection (every host already numeric, a socket, or resolved into addrs). */
static void link_connect(db_link_t *link)
{
    db_target_t *target = link->target;
    booka_buf_t hosts = {NULL}, addrs = {NULL}, ports = {NULL};
    const char **values = target->values;
    size_t n = 0;

    if (target->resolve != NULL) {
        while (target->keywords[n] != NULL)
            ++n;
        values = h2o_mem_alloc((n + 1) * sizeof(*values));
        memcpy(values, target->values, (n + 1) * sizeof(*values));
        join_addresses(link, &hosts, &addrs, &ports);
        values[target->host_index] = hosts.base;
        values[target->hostaddr_index] = addrs.base;
        if (target->port_index != SIZE_MAX && target->num_ports > 1)
            values[target->port_index] = ports.base;
    }
    link->pg = PQconnectStartParams(target->keywords, values, 0); /* copies every value */
    if (values != target->values)
        free(values);
    booka_buf_free(&hosts);
    booka_buf_free(&addrs);
    booka_buf_free(&ports);
    if (link->pg == NULL) {
        link_failed(link, "out of memory");
        return;
    }
    if (PQstatus(link->pg) == CONNECTION_BAD) {
        link_failed(link, PQerrorMessage(link->pg));
        return;
    }
    if (link_attach_socket(link) != 0) {
        link_failed(link, "cannot watch the connection's socket");
        return;
    }
    /* libpq: after PQconnectStart, behave as if PQconnectPoll had returned PGRES_POLLING_WRITING */
    link->wants_write = 1;
    db_link_want_write(link, on_link_write);
}

static void on_lookup(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    db_link_t *link = data;
    db_target_t *target = link->target;
    booka_buf_t list = {NULL};
    char why[256];

    link->lookup = NULL;
    if (errstr != NULL) {
        snprintf(why, sizeof(why), "cannot resolve %s: %s", target->hosts[link->lookup_index], errstr);
        link_failed(link, why);
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
    booka_buf_or_abort(&list); /* a host's addresses: small (http/json.h, out of memory) */
    if (list.len <= 1) {
        booka_buf_free(&list);
        snprintf(why, sizeof(why), "cannot resolve %s", target->hosts[link->lookup_index]);
        link_failed(link, why);
        return;
    }
    link->addrs[link->lookup_index++] = list.base;
    link_lookup_next(link);
}

/* link_lookup_next: resolves the next host name of the list on h2o's resolver threads, or connects once all are. */
static void link_lookup_next(db_link_t *link)
{
    db_target_t *target = link->target;

    while (link->lookup_index != target->num_hosts && !target->resolve[link->lookup_index])
        ++link->lookup_index;
    if (link->lookup_index == target->num_hosts) {
        link_connect(link);
        return;
    }
    link->lookup = h2o_hostinfo_getaddr(
        &link->ctx->receivers.hostinfo_getaddr,
        h2o_iovec_init(target->hosts[link->lookup_index], strlen(target->hosts[link->lookup_index])),
        h2o_iovec_init(H2O_STRLIT("5432")), AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_lookup, link);
}

void db_link_open(db_link_t *link)
{
    link->opening = 1;
    link->timer.cb = on_link_timeout;
    h2o_timeout_link(link->ctx->loop, link->timeout, &link->timer);
    if (link->target->resolve != NULL) {
        link->addrs = h2o_mem_alloc(link->target->num_hosts * sizeof(*link->addrs));
        memset(link->addrs, 0, link->target->num_hosts * sizeof(*link->addrs));
        link->lookup_index = 0;
        link_lookup_next(link);
    } else {
        link_connect(link);
    }
}
