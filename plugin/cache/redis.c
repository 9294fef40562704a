/* redis.c: hiredis's async API on the h2o event loop. hiredis 0.14 brings no adapter for libh2o, no asynchronous name
 * lookup (redisAsyncConnect calls getaddrinfo) and no command timeouts; this file adds the three. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/async.h>
#include "cache/redis.h"
#include "config/table.h"
#include "health/health.h"
#include "http/http.h"
#include "http/query.h"
#include "metrics/metrics.h"

#define MAX_TIMEOUT_STREAK 3 /* this many commands in a row miss their deadline: Redis is slow, drop and reconnect */
#define RETRY_TICK_MS 50

static struct {
    booka_redis_url_t url;
    int configured;
    uint64_t command_timeout, connect_timeout, max_backoff;
} settings = {.command_timeout = 50, .connect_timeout = 1000, .max_backoff = 5000};

struct booka_redis_command {
    h2o_timeout_entry_t deadline;
    struct redis_conn *conn;
    booka_redis_reply_cb cb;
    void *data;
    booka_trace_t *trace; /* gets the command's time before cb runs; NULL when untraced */
    uint64_t sent_at;     /* booka_clock_us */
    int abandoned;        /* timed out or cancelled; hiredis still holds it until it calls back */
    int timed_out;        /* its time is already in the histogram */
};

/* Process-wide numbers for /metrics (the connections are per thread). */
static struct {
    _Atomic uint64_t commands, timeouts, errors, reconnects;
    _Atomic int64_t connections_up;
    booka_histogram_t duration;
} stats;

struct redis_conn {
    h2o_context_t *ctx;
    redisAsyncContext *ac;
    h2o_socket_t *sock;                                           /* watches a dup of hiredis's fd */
    enum conn_state { IDLE, RESOLVING, CONNECTING, READY } state; /* changed only through set_state */
    h2o_timeout_t command_timeout, connect_timeout, retry_tick;
    h2o_timeout_entry_t connect_deadline, retry_entry;
    uint64_t retry_at, backoff;
    unsigned timeout_streak;
    int write_pending;      /* a write notification is armed: libh2o asserts on arming it twice, hiredis asks repeatedly */
    int tcp_connected;      /* hiredis reported the connection made; READY also waits for... */
    unsigned setup_pending; /* ...the replies to AUTH and SELECT, which must be OK */
    int reported_down;      /* logged once per outage */
};

static __thread struct redis_conn *this_conn;

static void start_connect(struct redis_conn *conn);

/* set_state: the one place the state changes, so the connections-up gauge follows every way into and out of READY. */
static void set_state(struct redis_conn *conn, enum conn_state state)
{
    if (conn->state == READY && state != READY)
        --stats.connections_up;
    else if (conn->state != READY && state == READY)
        ++stats.connections_up;
    conn->state = state;
}

/* schedule_retry: the next attempt after an exponential, jittered delay (so instances do not reconnect in lockstep). */
static void schedule_retry(struct redis_conn *conn, const char *why)
{
    uint64_t jittered;

    set_state(conn, IDLE);
    if (!conn->reported_down) {
        booka_log(NULL, "redis", "down (%s); serving without Redis, reconnecting with backoff", why);
        conn->reported_down = 1;
    }
    conn->backoff = conn->backoff == 0 ? 100 : conn->backoff * 2;
    if (conn->backoff > settings.max_backoff)
        conn->backoff = settings.max_backoff;
    jittered = conn->backoff / 2 + (uint64_t)rand() % (conn->backoff / 2 + 1);
    conn->retry_at = h2o_now(conn->ctx->loop) + jittered;
    if (!h2o_timeout_is_linked(&conn->retry_entry))
        h2o_timeout_link(conn->ctx->loop, &conn->retry_tick, &conn->retry_entry);
}

static void on_retry_tick(h2o_timeout_entry_t *entry)
{
    struct redis_conn *conn = H2O_STRUCT_FROM_MEMBER(struct redis_conn, retry_entry, entry);
    if (conn->state != IDLE)
        return;
    if (h2o_now(conn->ctx->loop) < conn->retry_at) {
        h2o_timeout_link(conn->ctx->loop, &conn->retry_tick, &conn->retry_entry);
        return;
    }
    ++stats.reconnects;
    start_connect(conn);
}

/* drop_connection: closes the connection at once; hiredis calls every pending callback with NULL first. Those callbacks
 * may send new commands (a lookup that misses goes on to take the fill lock): the connection is no longer READY by then,
 * so booka_redis_command refuses them instead of handing hiredis the context it is freeing. */
static void drop_connection(struct redis_conn *conn, const char *why)
{
    redisAsyncContext *ac = conn->ac;
    conn->ac = NULL;
    set_state(conn, IDLE);
    if (h2o_timeout_is_linked(&conn->connect_deadline))
        h2o_timeout_unlink(&conn->connect_deadline);
    if (ac != NULL)
        redisAsyncFree(ac);
    schedule_retry(conn, why);
}

/* event hooks: hiredis asks, the h2o socket watches */
static void on_sock_read(h2o_socket_t *sock, const char *err)
{
    struct redis_conn *conn = sock->data;
    if (conn->ac != NULL)
        redisAsyncHandleRead(conn->ac);
}

static void on_sock_write(h2o_socket_t *sock, const char *err)
{
    struct redis_conn *conn = sock->data;
    conn->write_pending = 0;
    if (conn->ac != NULL)
        redisAsyncHandleWrite(conn->ac);
}

static void hook_add_read(void *p)
{
    struct redis_conn *conn = p;
    if (conn->sock != NULL && !h2o_socket_is_reading(conn->sock))
        h2o_socket_read_start(conn->sock, on_sock_read);
}

static void hook_del_read(void *p)
{
    struct redis_conn *conn = p;
    if (conn->sock != NULL && h2o_socket_is_reading(conn->sock))
        h2o_socket_read_stop(conn->sock);
}

static void hook_add_write(void *p)
{
    struct redis_conn *conn = p;
    if (conn->sock != NULL && !conn->write_pending) {
        conn->write_pending = 1;
        h2o_socket_notify_write(conn->sock, on_sock_write);
    }
}

static void hook_del_write(void *p)
{
    /* a write notification cannot be withdrawn in libh2o 2.2; a spurious one finds nothing to write */
}

static void hook_cleanup(void *p)
{
    struct redis_conn *conn = p;
    if (conn->sock != NULL) {
        h2o_socket_close(conn->sock);
        conn->sock = NULL;
    }
}

/* become_ready: connected, and AUTH/SELECT (when the URL asks for them) answered OK. Until then the connection is
 * CONNECTING under its connect deadline, and commands are refused. */
static void become_ready(struct redis_conn *conn)
{
    if (h2o_timeout_is_linked(&conn->connect_deadline))
        h2o_timeout_unlink(&conn->connect_deadline);
    set_state(conn, READY);
    conn->backoff = 0;
    conn->timeout_streak = 0;
    if (conn->reported_down) {
        booka_log(NULL, "redis", "up again");
        conn->reported_down = 0;
    }
}

static void on_connected(const redisAsyncContext *ac, int status)
{
    struct redis_conn *conn = ac->ev.data;
    if (status != REDIS_OK) {
        if (h2o_timeout_is_linked(&conn->connect_deadline))
            h2o_timeout_unlink(&conn->connect_deadline);
        conn->ac = NULL; /* hiredis frees it after this callback */
        schedule_retry(conn, ac->errstr);
        return;
    }
    conn->tcp_connected = 1;
    if (conn->setup_pending == 0)
        become_ready(conn);
}

/* on_setup_reply: AUTH's or SELECT's answer. An error (a wrong password, a database index the server does not have)
 * drops the connection with Redis's own words in the log: every command on it would fail. */
static void on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_conn *conn = privdata;
    redisReply *reply = r;
    char why[256];

    if (reply == NULL || conn->ac != ac) /* the connection is being dropped, or was replaced */
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(why, sizeof(why), "connection set-up refused: %.*s", (int)reply->len, reply->str);
        drop_connection(conn, why);
        return;
    }
    if (--conn->setup_pending == 0 && conn->tcp_connected)
        become_ready(conn);
}

static void on_disconnected(const redisAsyncContext *ac, int status)
{
    struct redis_conn *conn = ac->ev.data;
    if (conn->ac == ac) { /* not one we dropped ourselves */
        conn->ac = NULL;
        schedule_retry(conn, status == REDIS_OK ? "closed" : ac->errstr);
    }
}

static void on_connect_deadline(h2o_timeout_entry_t *entry)
{
    struct redis_conn *conn = H2O_STRUCT_FROM_MEMBER(struct redis_conn, connect_deadline, entry);
    if (conn->state == CONNECTING)
        drop_connection(conn, "connect timed out");
}

/* send_setup: AUTH and SELECT travel first, queued before the connection is up; READY waits for their answers. */
static void send_setup(struct redis_conn *conn)
{
    int ret = REDIS_OK;

    conn->tcp_connected = 0;
    conn->setup_pending = 0;
    if (settings.url.password != NULL) {
        ret = settings.url.user != NULL
                  ? redisAsyncCommand(conn->ac, on_setup_reply, conn, "AUTH %s %s", settings.url.user, settings.url.password)
                  : redisAsyncCommand(conn->ac, on_setup_reply, conn, "AUTH %s", settings.url.password);
        conn->setup_pending += ret == REDIS_OK;
    }
    if (ret == REDIS_OK && settings.url.db != 0) {
        ret = redisAsyncCommand(conn->ac, on_setup_reply, conn, "SELECT %d", settings.url.db);
        conn->setup_pending += ret == REDIS_OK;
    }
    if (ret != REDIS_OK)
        drop_connection(conn, "cannot queue AUTH or SELECT");
}

static void connect_to(struct redis_conn *conn, const char *ip)
{
    redisAsyncContext *ac = redisAsyncConnect(ip, settings.url.port);
    int fd;

    if (ac == NULL || ac->err) {
        schedule_retry(conn, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        return;
    }
    if ((fd = dup(ac->c.fd)) == -1) {
        redisAsyncFree(ac);
        schedule_retry(conn, "dup failed");
        return;
    }
    conn->ac = ac;
    conn->write_pending = 0;
    conn->sock = h2o_evloop_socket_create(conn->ctx->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    conn->sock->data = conn;
    ac->ev.data = conn;
    ac->ev.addRead = hook_add_read;
    ac->ev.delRead = hook_del_read;
    ac->ev.addWrite = hook_add_write;
    ac->ev.delWrite = hook_del_write;
    ac->ev.cleanup = hook_cleanup;
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    hook_add_write(conn); /* connect completion is signalled as writability */
    set_state(conn, CONNECTING);
    h2o_timeout_link(conn->ctx->loop, &conn->connect_timeout, &conn->connect_deadline);
    send_setup(conn);
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    struct redis_conn *conn = data;
    char ip[NI_MAXHOST];

    if (errstr != NULL || res == NULL || getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST) != 0) {
        schedule_retry(conn, errstr != NULL ? errstr : "cannot resolve the host");
        return;
    }
    connect_to(conn, ip);
}

/* start_connect: resolves the host off the loop (libh2o's resolver threads) unless it already is an address. */
static void start_connect(struct redis_conn *conn)
{
    struct in6_addr addr;
    const char *host = settings.url.host;

    if (inet_pton(AF_INET, host, &addr) == 1 || inet_pton(AF_INET6, host, &addr) == 1) {
        connect_to(conn, host);
        return;
    }
    set_state(conn, RESOLVING);
    h2o_hostinfo_getaddr(&conn->ctx->receivers.hostinfo_getaddr, h2o_iovec_init(host, strlen(host)),
                         h2o_iovec_init(H2O_STRLIT("0")), AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV,
                         on_resolved, conn);
}

void booka_redis_context_init(h2o_context_t *ctx)
{
    struct redis_conn *conn;

    if (!settings.configured || this_conn != NULL)
        return;
    conn = this_conn = h2o_mem_alloc(sizeof(*conn));
    *conn = (struct redis_conn){.ctx = ctx};
    h2o_timeout_init(ctx->loop, &conn->command_timeout, settings.command_timeout);
    h2o_timeout_init(ctx->loop, &conn->connect_timeout, settings.connect_timeout);
    h2o_timeout_init(ctx->loop, &conn->retry_tick, RETRY_TICK_MS);
    conn->connect_deadline.cb = on_connect_deadline;
    conn->retry_entry.cb = on_retry_tick;
    start_connect(conn);
}

int booka_redis_is_configured(void)
{
    return settings.configured;
}

int booka_redis_is_up(h2o_context_t *ctx)
{
    return this_conn != NULL && this_conn->state == READY;
}

static int dependency_is_up(h2o_context_t *ctx, void *unused)
{
    return booka_redis_is_up(ctx);
}

/* command_timed: the command's time goes into the histogram (once) and, while its issuer still waits, the trace. */
static void command_timed(booka_redis_command_t *cmd)
{
    uint64_t us = cmd->timed_out ? 0 : booka_histogram_observe_since(&stats.duration, cmd->sent_at);
    if (!cmd->abandoned && cmd->trace != NULL)
        cmd->trace->redis_us += us;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    booka_redis_command_t *cmd = privdata;
    redisReply *reply = r;

    if (h2o_timeout_is_linked(&cmd->deadline))
        h2o_timeout_unlink(&cmd->deadline);
    command_timed(cmd);
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        /* fire-and-forget commands (SET of a fill, DEL of a lock) are abandoned at once: their errors count too */
        ++stats.errors;
        booka_log_id(!cmd->abandoned && cmd->trace != NULL ? cmd->trace->request_id : NULL, "redis", "command failed: %.*s",
                     (int)reply->len, reply->str);
        reply = NULL;
    }
    if (!cmd->abandoned) {
        if (r != NULL)
            cmd->conn->timeout_streak = 0;
        cmd->cb(cmd->data, reply);
    }
    free(cmd);
}

static void on_command_deadline(h2o_timeout_entry_t *entry)
{
    booka_redis_command_t *cmd = H2O_STRUCT_FROM_MEMBER(booka_redis_command_t, deadline, entry);
    struct redis_conn *conn = cmd->conn;

    command_timed(cmd);
    cmd->timed_out = 1;
    cmd->abandoned = 1;
    ++stats.timeouts;
    cmd->cb(cmd->data, NULL);
    if (++conn->timeout_streak >= MAX_TIMEOUT_STREAK && conn->state == READY)
        drop_connection(conn, "commands keep missing their deadline");
}

booka_redis_command_t *booka_redis_command(h2o_context_t *ctx, int argc, const char **argv, const size_t *argv_len,
                                           booka_redis_reply_cb cb, void *data, booka_trace_t *trace)
{
    struct redis_conn *conn = this_conn;
    booka_redis_command_t *cmd;

    if (conn == NULL || conn->state != READY)
        return NULL;
    cmd = h2o_mem_alloc(sizeof(*cmd));
    *cmd = (booka_redis_command_t){.conn = conn, .cb = cb, .data = data, .trace = trace, .sent_at = booka_clock_us()};
    cmd->deadline.cb = on_command_deadline;
    if (redisAsyncCommandArgv(conn->ac, on_reply, cmd, argc, argv, argv_len) != REDIS_OK) {
        free(cmd);
        return NULL;
    }
    ++stats.commands;
    h2o_timeout_link(ctx->loop, &conn->command_timeout, &cmd->deadline);
    return cmd;
}

void booka_redis_cancel(booka_redis_command_t *cmd)
{
    cmd->abandoned = 1;
    if (h2o_timeout_is_linked(&cmd->deadline))
        h2o_timeout_unlink(&cmd->deadline);
}

void booka_redis_collect_metrics(booka_buf_t *out)
{
    static const struct {
        const char *name, *help;
        _Atomic uint64_t *value;
    } counters[] = {
        {"booka_redis_commands_total", "Commands sent to Redis.", &stats.commands},
        {"booka_redis_timeouts_total", "Commands that missed their deadline (command-timeout); the caller went on without them.",
         &stats.timeouts},
        {"booka_redis_errors_total", "Commands Redis answered with an error.", &stats.errors},
        {"booka_redis_reconnects_total", "Connection attempts after Redis was lost or unreachable.", &stats.reconnects},
    };

    booka_metrics_write_header(out, "booka_redis_connections_up", "gauge",
                               "Event-loop threads whose Redis connection is established (one connection per thread).");
    booka_metrics_write_sample(out, "booka_redis_connections_up", "", (double)atomic_load(&stats.connections_up));
    for (size_t i = 0; i != sizeof(counters) / sizeof(counters[0]); ++i) {
        booka_metrics_write_header(out, counters[i].name, "counter", counters[i].help);
        booka_metrics_write_sample(out, counters[i].name, "", (double)atomic_load(counters[i].value));
    }
    booka_metrics_write_header(out, "booka_redis_command_duration_seconds", "histogram",
                               "Time from sending a Redis command to its reply (a command past its deadline counts at the "
                               "deadline).");
    booka_metrics_write_histogram(out, "booka_redis_command_duration_seconds", "", &stats.duration);
}

/* percent_decode: %XX sequences in a URL's user or password; returns a malloc'd string, NULL on a bad escape. */
static char *percent_decode(const char *s, size_t len)
{
    char *out = h2o_mem_alloc(len + 1), *o = out;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= len || booka_hex_value(s[i + 1]) == -1 || booka_hex_value(s[i + 2]) == -1) {
            free(out);
            return NULL;
        }
        *o++ = (char)(booka_hex_value(s[i + 1]) << 4 | booka_hex_value(s[i + 2]));
        i += 2;
    }
    *o = '\0';
    return out;
}

int booka_redis_parse_url(const char *url, booka_redis_url_t *out, const char **err)
{
    const char *p, *at, *host_end, *slash;
    char *end;

    *out = (booka_redis_url_t){.port = 6379};
    if (strncmp(url, "rediss://", 9) == 0) {
        *err = "rediss:// (TLS) is not supported by hiredis 0.14; use redis://";
        return -1;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        *err = "expected redis://[user[:password]@]host[:port][/db]";
        return -1;
    }
    p = url + 8;
    slash = strchr(p, '/');
    if ((at = memrchr(p, '@', slash != NULL ? (size_t)(slash - p) : strlen(p))) != NULL) {
        const char *colon = memchr(p, ':', at - p);
        if (colon != NULL) {
            if (colon != p && (out->user = percent_decode(p, colon - p)) == NULL)
                goto BadEscape;
            if ((out->password = percent_decode(colon + 1, at - colon - 1)) == NULL)
                goto BadEscape;
        } else if (at != p && (out->password = percent_decode(p, at - p)) == NULL) {
            goto BadEscape;
        }
        p = at + 1;
    }
    host_end = p + strcspn(p, ":/");
    if (host_end == p) {
        *err = "the URL names no host";
        goto Error;
    }
    out->host = h2o_strdup(NULL, p, host_end - p).base;
    if (*host_end == ':') {
        long port = strtol(host_end + 1, &end, 10);
        if (end == host_end + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) {
            *err = "the port must be a number from 1 to 65535";
            goto Error;
        }
        out->port = (int)port;
        host_end = end;
    }
    if (*host_end == '/' && host_end[1] != '\0') {
        long db = strtol(host_end + 1, &end, 10);
        if (*end != '\0' || db < 0 || db > 65535) {
            *err = "the database must be a number";
            goto Error;
        }
        out->db = (int)db;
    }
    return 0;
BadEscape:
    *err = "bad %-escape in the user or password";
Error:
    booka_redis_url_dispose(out);
    return -1;
}

void booka_redis_url_dispose(booka_redis_url_t *url)
{
    free(url->host);
    free(url->user);
    free(url->password);
    *url = (booka_redis_url_t){0};
}

static int configure(h2o_configurator_command_t *cmd, yoml_t *node, const char *url)
{
    const char *err;
    booka_redis_url_dispose(&settings.url);
    if (booka_redis_parse_url(url, &settings.url, &err) != 0) {
        if (node != NULL)
            h2o_configurator_errprintf(cmd, node, "%s", err);
        else
            fprintf(stderr, "booka-origin: REDIS_URL: %s\n", err);
        return -1;
    }
    settings.configured = 1;
    booka_health_add_dependency("redis", 0, dependency_is_up, NULL);
    booka_health_add_context_init(booka_redis_context_init);
    return 0;
}

/* redis_directive_t: the mapping form of `booka.redis`; the timeouts land in `settings` once the whole mapping is valid. */
typedef struct {
    yoml_t *url;
    uint64_t command_timeout, connect_timeout;
} redis_directive_t;

static int set_url_node(h2o_configurator_command_t *cmd, yoml_t *value, void *directive)
{
    if (value->type != YOML_TYPE_SCALAR) {
        h2o_configurator_errprintf(cmd, value, "expected a URL: redis://[user[:password]@]host[:port][/db], or OFF");
        return -1;
    }
    ((redis_directive_t *)directive)->url = value;
    return 0;
}

static const booka_config_key_t redis_keys[] = {
    BOOKA_CONFIG_CUSTOM("url", set_url_node),
    BOOKA_CONFIG_DURATION("command-timeout", redis_directive_t, command_timeout, BOOKA_CONFIG_MS, 1, 60000),
    BOOKA_CONFIG_DURATION("connect-timeout", redis_directive_t, connect_timeout, BOOKA_CONFIG_MS, 1, 60000),
};

/* on_config_redis: a URL, OFF, or a mapping of redis_keys (url required). */
static int on_config_redis(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    redis_directive_t d = {.url = node, .command_timeout = settings.command_timeout, .connect_timeout = settings.connect_timeout};

    if (node->type == YOML_TYPE_MAPPING) {
        d.url = NULL;
        if (booka_config_apply(cmd, node, redis_keys, BOOKA_CONFIG_NKEYS(redis_keys), &d, NULL) != 0)
            return -1;
        if (d.url == NULL) {
            h2o_configurator_errprintf(cmd, node, "expected `url: redis://...`");
            return -1;
        }
    }
    settings.command_timeout = d.command_timeout;
    settings.connect_timeout = d.connect_timeout;
    if (strcasecmp(d.url->data.scalar, "OFF") == 0) {
        settings.configured = -1; /* explicitly off: REDIS_URL is ignored */
        return 0;
    }
    return configure(cmd, d.url, d.url->data.scalar);
}

/* on_config_exit: at the end of the global level, REDIS_URL stands in for a missing booka.redis. */
static int on_config_exit(h2o_configurator_t *c, h2o_configurator_context_t *ctx, yoml_t *node)
{
    const char *env = getenv("REDIS_URL");
    if (ctx->hostconf != NULL || ctx->pathconf != NULL)
        return 0;
    if (settings.configured == -1) {
        settings.configured = 0;
        return 0;
    }
    if (!settings.configured && env != NULL && env[0] != '\0')
        return configure(NULL, NULL, env);
    return 0;
}

void booka_redis_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    c->exit = on_config_exit;
    h2o_configurator_define_command(
        c, "booka.redis", H2O_CONFIGURATOR_FLAG_GLOBAL | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR | H2O_CONFIGURATOR_FLAG_EXPECT_MAPPING,
        on_config_redis);
}
