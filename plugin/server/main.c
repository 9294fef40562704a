/* main.c: booka-origin, the small host that gives the booka plugin a process: options, config, threads, signals, drain. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netdb.h>
#include <getopt.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include "h2o.h"
#include "h2o/configurator.h"
#include "h2o/serverutil.h"
#include "config/table.h"
#include "config/yaml_loader.h"
#include "core/booka.h"
#include "server/server.h"

/* ASan builds (gcc's __SANITIZE_ADDRESS__, clang's __has_feature) check for leaks before the final _exit, which would
 * otherwise skip LeakSanitizer's at-exit check; release builds have no such call. */
#if defined(__SANITIZE_ADDRESS__)
#define BOOKA_LEAK_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BOOKA_LEAK_CHECK 1
#endif
#endif
#ifdef BOOKA_LEAK_CHECK
#include <sanitizer/lsan_interface.h>
#endif

#define BOOKA_ORIGIN_VERSION "0.1.0"

struct server_config server_conf = {.max_connections = 1024};

struct listener_ctx {
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *sock;
};

struct server_thread {
    pthread_t tid;
    h2o_context_t ctx;
    h2o_multithread_receiver_t wakeup; /* a message here only makes the loop re-check the shutdown flag */
    struct listener_ctx *listeners;
};

static struct server_thread *threads;
static atomic_int shutdown_requested;
static atomic_int num_connections;
static atomic_size_t num_threads_ready; /* loops whose wake-up receiver is registered */
static time_t launch_time;
static h2o_barrier_t startup_barrier, drained_barrier;

/* wake_all_threads: makes every loop return from h2o_evloop_run so it re-reads the shared state. */
static void wake_all_threads(void)
{
    for (size_t i = 0; i != server_conf.num_threads; ++i)
        h2o_multithread_send_message(&threads[i].wakeup, NULL);
}

static void on_wakeup(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
}

static void on_connection_close(void *data)
{
    if (atomic_fetch_sub(&num_connections, 1) == server_conf.max_connections)
        wake_all_threads(); /* below the limit again: every thread may resume accepting */
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct listener_ctx *lctx = listener->data;
    int budget = 16; /* accept a few at a time so one thread does not starve the others */

    if (err != NULL)
        return;
    while (budget-- != 0 && atomic_load(&num_connections) < server_conf.max_connections) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        atomic_fetch_add(&num_connections, 1);
        sock->on_close.cb = on_connection_close;
        sock->on_close.data = NULL;
        h2o_accept(&lctx->accept_ctx, sock);
    }
}

/* update_listener_state: accept while under max-connections, pause the listeners at the limit. */
static void update_listener_state(struct server_thread *t)
{
    int accepting = atomic_load(&num_connections) < server_conf.max_connections;
    for (size_t i = 0; i != server_conf.num_listeners; ++i) {
        h2o_socket_t *sock = t->listeners[i].sock;
        if (accepting && !h2o_socket_is_reading(sock))
            h2o_socket_read_start(sock, on_accept);
        else if (!accepting && h2o_socket_is_reading(sock))
            h2o_socket_read_stop(sock);
    }
}

/* drain: stop accepting, ask protocols to wind down (GOAWAY, no keep-alive), and serve what is in flight until the
 * connections are gone or the grace period ends. */
static void drain(struct server_thread *t)
{
    uint64_t grace, deadline;

    for (size_t i = 0; i != server_conf.num_listeners; ++i) {
        h2o_socket_read_stop(t->listeners[i].sock);
        h2o_socket_close(t->listeners[i].sock);
        t->listeners[i].sock = NULL;
    }
    h2o_context_request_shutdown(&t->ctx);
    grace = server_conf.globalconf.http2.graceful_shutdown_timeout;
    deadline = h2o_now(t->ctx.loop) + grace;
    while (atomic_load(&num_connections) > 0 && (grace == 0 || h2o_now(t->ctx.loop) < deadline))
        h2o_evloop_run(t->ctx.loop, 100);
}

static void *run_thread(void *arg)
{
    size_t index = (size_t)arg;
    struct server_thread *t = threads + index;

    h2o_context_init(&t->ctx, h2o_evloop_create(), &server_conf.globalconf);
    h2o_multithread_register_receiver(t->ctx.queue, &t->wakeup, on_wakeup);
    atomic_fetch_add(&num_threads_ready, 1);
    t->listeners = h2o_mem_alloc(sizeof(*t->listeners) * server_conf.num_listeners);
    for (size_t i = 0; i != server_conf.num_listeners; ++i) {
        struct server_listener *l = server_conf.listeners[i];
        struct listener_ctx *lctx = t->listeners + i;
        *lctx = (struct listener_ctx){.accept_ctx = {.ctx = &t->ctx, .hosts = l->hosts, .ssl_ctx = l->ssl_ctx}};
        lctx->sock = h2o_evloop_socket_create(t->ctx.loop, l->fds[index], H2O_SOCKET_FLAG_DONT_READ);
        lctx->sock->data = lctx;
    }
    h2o_barrier_wait(&startup_barrier);
    while (!atomic_load(&shutdown_requested)) {
        update_listener_state(t);
        h2o_evloop_run(t->ctx.loop, INT32_MAX);
    }
    drain(t);
    /* Thread 0 goes on to end the process once every loop has drained. The others stay parked instead of returning, so
     * what they keep in thread-local storage (libh2o's allocation recyclers) is still theirs when LeakSanitizer looks. */
    h2o_barrier_wait(&drained_barrier);
    while (index != 0)
        pause();
    return NULL;
}

/* signal_thread: the one place signals are taken (sigwait), so nothing async-signal-unsafe runs in a handler. */
static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig;

    for (;;) {
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            fprintf(stderr, "booka-origin: SIGHUP ignored (reload is not supported; restart instead)\n");
            continue;
        }
        fprintf(stderr, "booka-origin: received %s, draining (grace %" PRIu64 "s%s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                server_conf.globalconf.http2.graceful_shutdown_timeout / 1000,
                server_conf.globalconf.http2.graceful_shutdown_timeout == 0 ? ": until every connection closes" : "");
        atomic_store(&shutdown_requested, 1);
        while (atomic_load(&num_threads_ready) != server_conf.num_threads)
            usleep(1000); /* a signal during start-up: wait until every loop can be woken */
        wake_all_threads();
        return NULL;
    }
}

static int on_config_num_threads(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    static const booka_config_number_t rule = {BOOKA_CONFIG_KIND_COUNT, 1, 1, 256};
    uint64_t v;

    if (booka_config_scan_number(cmd, node, &rule, &v) != 0)
        return -1;
    server_conf.num_threads = v;
    return 0;
}

static int on_config_max_connections(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    static const booka_config_number_t rule = {BOOKA_CONFIG_KIND_COUNT, 1, 1, 1048576};
    uint64_t v;

    if (booka_config_scan_number(cmd, node, &rule, &v) != 0)
        return -1;
    server_conf.max_connections = (int)v;
    return 0;
}

/* on_config_graceful_shutdown_timeout: `http2-graceful-shutdown-timeout` (H2O's name and meaning: seconds after the
 * first GOAWAY before remaining connections are closed; 0 waits for the peers) and its alias `graceful-shutdown-timeout`.
 * libh2o applies it to HTTP/2 connections; drain() bounds every connection with it. */
static int on_config_graceful_shutdown_timeout(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    static const booka_config_number_t rule = {BOOKA_CONFIG_KIND_DURATION, BOOKA_CONFIG_SECONDS, 0, 3600};
    uint64_t v;

    if (node->type != YOML_TYPE_SCALAR) {
        h2o_configurator_errprintf(cmd, node, "argument must be a scalar");
        return -1;
    }
    if (booka_config_scan_number(cmd, node, &rule, &v) != 0)
        return -1;
    ctx->globalconf->http2.graceful_shutdown_timeout = v * 1000;
    return 0;
}

/* on_config_reuseport: `tcp-reuseport` (H2O's name) and its alias `reuseport`. */
static int on_config_reuseport(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    ssize_t v = h2o_configurator_get_one_of(cmd, node, "OFF,ON");
    if (v == -1)
        return -1;
    server_conf.reuseport = (int)v;
    return 0;
}

static int on_config_string(h2o_configurator_command_t *cmd, yoml_t *node, char **slot)
{
    free(*slot);
    *slot = h2o_strdup(NULL, node->data.scalar, SIZE_MAX).base;
    return 0;
}

static int on_config_pid_file(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    return on_config_string(cmd, node, &server_conf.pid_file);
}

static int on_config_error_log(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    return on_config_string(cmd, node, &server_conf.error_log);
}

/* on_config_user: as H2O's: the user must exist when the configuration is read (checked with -t too). */
static int on_config_user(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    errno = 0;
    if (getpwnam(node->data.scalar) == NULL) {
        h2o_configurator_errprintf(cmd, node, "user %s does not exist%s%s", node->data.scalar, errno != 0 ? ": " : "",
                                   errno != 0 ? strerror(errno) : "");
        return -1;
    }
    return on_config_string(cmd, node, &ctx->globalconf->user);
}

/* on_status_main: the host's block of the `status` handler's JSON (a fragment starting with a comma, as libh2o expects). */
static h2o_iovec_t on_status_main(void *unused, h2o_globalconf_t *conf, h2o_req_t *req)
{
    enum { SIZE = 1024 };
    char *buf = h2o_mem_alloc_pool(&req->pool, SIZE);
    int n = snprintf(buf, SIZE,
                     ",\n \"server-version\": \"booka-origin " BOOKA_ORIGIN_VERSION " (libh2o " H2O_VERSION ")\",\n"
                     " \"uptime\": %lld,\n \"connections\": %d,\n \"max-connections\": %d,\n \"listeners\": %zu,\n"
                     " \"worker-threads\": %zu",
                     (long long)(time(NULL) - launch_time), atomic_load(&num_connections), server_conf.max_connections,
                     server_conf.num_listeners, server_conf.num_threads);
    return h2o_iovec_init(buf, n < SIZE ? n : SIZE - 1);
}

/* setup_configurators: the host's own directives, every handler libh2o ships, and the booka plugin. */
static void setup_configurators(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c;
    const int scalar = H2O_CONFIGURATOR_FLAG_GLOBAL | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR;

    h2o_config_init(conf);
    server_register_listen_configurator(conf);
    c = h2o_configurator_create(conf, sizeof(*c));
    h2o_configurator_define_command(c, "num-threads", scalar, on_config_num_threads);
    h2o_configurator_define_command(c, "max-connections", scalar, on_config_max_connections);
    /* H2O's own name (libh2o's core configurator defines it; ours takes its place to range-check it and to bound the
     * drain of every protocol with it), and this server's older spelling */
    h2o_configurator_get_command(conf, "http2-graceful-shutdown-timeout")->cb = on_config_graceful_shutdown_timeout;
    conf->http2.graceful_shutdown_timeout = 10000;
    h2o_configurator_define_command(c, "graceful-shutdown-timeout", scalar, on_config_graceful_shutdown_timeout);
    h2o_configurator_define_command(c, "tcp-reuseport", scalar, on_config_reuseport);
    h2o_configurator_define_command(c, "reuseport", scalar, on_config_reuseport);
    h2o_configurator_define_command(c, "pid-file", scalar, on_config_pid_file);
    h2o_configurator_define_command(c, "error-log", scalar, on_config_error_log);
    h2o_configurator_define_command(c, "user", scalar, on_config_user);

    h2o_access_log_register_configurator(conf);
    h2o_compress_register_configurator(conf);
    h2o_expires_register_configurator(conf);
    h2o_errordoc_register_configurator(conf);
    h2o_fastcgi_register_configurator(conf);
    h2o_file_register_configurator(conf);
    h2o_throttle_resp_register_configurator(conf);
    h2o_headers_register_configurator(conf);
    h2o_proxy_register_configurator(conf);
    h2o_reproxy_register_configurator(conf);
    h2o_redirect_register_configurator(conf);
    h2o_status_register_configurator(conf);
    h2o_http2_debug_state_register_configurator(conf);

    h2o_config_register_simple_status_handler(conf, h2o_iovec_init(H2O_STRLIT("main")), on_status_main);
    booka_register_configurators(conf);
}

/* apply_config: runs libh2o's configurator over `root`, rewriting its "[FILE:L:C:L] msg" diagnostics to "FILE:L:C: msg".
 * Returns 0 on success. */
static int apply_config(yoml_t *root)
{
    FILE *capture = tmpfile();
    int saved_stderr = -1, ret;
    char *line = NULL, out[4096];
    size_t cap = 0;

    fflush(stderr);
    if (capture != NULL && (saved_stderr = dup(2)) != -1)
        dup2(fileno(capture), 2);
    ret = h2o_configurator_apply(&server_conf.globalconf, root, server_conf.dry_run);
    fflush(stderr);
    if (saved_stderr != -1) {
        dup2(saved_stderr, 2);
        close(saved_stderr);
        rewind(capture);
        while (getline(&line, &cap, capture) != -1) {
            line[strcspn(line, "\n")] = '\0';
            fprintf(stderr, "%s\n", booka_yaml_rewrite_error_line(line, out, sizeof(out)) ? out : line);
        }
        free(line);
    }
    if (capture != NULL)
        fclose(capture);
    return ret;
}

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: booka-origin [-t] -c FILE\n"
                "  -c FILE  configuration file (h2o.conf syntax)\n"
                "  -t       check the configuration and exit\n"
                "  -v       print the version and exit\n"
                "  -h       this help\n");
}

static void raise_nofile_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

/* redirect_error_log: stdout and stderr go to `error-log` (a file, or "| command" as in H2O). */
static int redirect_error_log(void)
{
    int fd;
    if (server_conf.error_log == NULL)
        return 0;
    if ((fd = h2o_access_log_open_log(server_conf.error_log)) == -1)
        return -1;
    if (dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
        return -1;
    close(fd);
    return 0;
}

static int pid_file_fd = -1; /* the pid file, kept open to empty it at exit when it cannot be removed */

/* write_pid_file: `pid-file`, written before the switch of user (as H2O's master process, which stays root, does):
 * root may write in a directory such as /run, the user the process switches to may not. */
static int write_pid_file(void)
{
    char text[32];
    int len;

    if (server_conf.pid_file == NULL)
        return 0;
    len = snprintf(text, sizeof(text), "%d\n", (int)getpid());
    if ((pid_file_fd = open(server_conf.pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1 ||
        write(pid_file_fd, text, len) != len) {
        fprintf(stderr, "booka-origin: cannot write pid-file %s: %s\n", server_conf.pid_file, strerror(errno));
        if (pid_file_fd != -1) {
            close(pid_file_fd);
            pid_file_fd = -1;
            unlink(server_conf.pid_file);
        }
        return -1;
    }
    return 0;
}

/* remove_pid_file: at exit. The user switched to may not remove a file from root's directory: the file is then emptied
 * through the descriptor opened before the switch, so that it names no process (the number may be reused). */
static void remove_pid_file(void)
{
    if (pid_file_fd == -1)
        return;
    if (unlink(server_conf.pid_file) != 0) {
        int err = errno;
        if (ftruncate(pid_file_fd, 0) == 0)
            fprintf(stderr, "booka-origin: pid-file %s emptied (cannot remove it: %s)\n", server_conf.pid_file, strerror(err));
        else
            fprintf(stderr, "booka-origin: cannot remove or empty pid-file %s: %s\n", server_conf.pid_file, strerror(err));
    }
    close(pid_file_fd);
    pid_file_fd = -1;
}

/* switch_user: as H2O does, once every listener socket is bound, the error log opened and the pid file written: to
 * `user` when given (an error when that fails, e.g. when not started as root); when started as root without `user`,
 * to `nobody`; root without `nobody` refuses to run. Returns 0, or the exit status. */
static int switch_user(void)
{
    const char *user = server_conf.globalconf.user;

    if (user == NULL && getuid() == 0) {
        if (getpwnam("nobody") == NULL) {
            fprintf(stderr, "booka-origin: refusing to run as root (and there is no user `nobody` to switch to); set the "
                            "`user` directive\n");
            return EX_CONFIG;
        }
        user = "nobody";
    }
    if (user != NULL && h2o_setuidgid(user) != 0) {
        fprintf(stderr, "booka-origin: cannot switch to user %s (switching needs root)\n", user);
        return EX_OSERR;
    }
    if (user != NULL)
        fprintf(stderr, "booka-origin: running as user %s\n", user);
    return 0;
}

static void print_listeners(void)
{
    for (size_t i = 0; i != server_conf.num_listeners; ++i) {
        struct server_listener *l = server_conf.listeners[i];
        char host[NI_MAXHOST], port[NI_MAXSERV];
        if (getnameinfo((struct sockaddr *)&l->addr, l->addrlen, host, sizeof(host), port, sizeof(port),
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            continue;
        fprintf(stderr, "booka-origin: listening on %s:%s (%s)\n", host, port,
                l->ssl_ctx != NULL ? "TLS: h2, http/1.1" : "cleartext: http/1.1, h2c");
    }
}

/* leaks_found_at_exit: in ASan builds, runs LeakSanitizer (unless ASAN_OPTIONS has detect_leaks=0), whose report goes
 * to stderr; the exit status then says so, as LeakSanitizer's own at-exit check does (23). Always 0 in other builds. */
static int leaks_found_at_exit(void)
{
#ifdef BOOKA_LEAK_CHECK
    int found = __lsan_do_recoverable_leak_check();
    fflush(stderr);
    return found;
#else
    return 0;
#endif
}

/* parse_args: -c FILE, -t, -v, -h. Returns -1 to go on (with *config_file set), else the exit status. */
static int parse_args(int argc, char **argv, const char **config_file)
{
    int ch;

    while ((ch = getopt(argc, argv, "c:thv")) != -1) {
        switch (ch) {
        case 'c':
            *config_file = optarg;
            break;
        case 't':
            server_conf.dry_run = 1;
            break;
        case 'v':
            printf("booka-origin %s (libh2o %s)\n", BOOKA_ORIGIN_VERSION, H2O_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (*config_file == NULL || optind != argc) {
        usage(stderr);
        return EX_USAGE;
    }
    return -1;
}

/* load_config: reads and applies the configuration file. Returns 0, or EX_CONFIG after reporting why. */
static int load_config(const char *config_file)
{
    char err[1024];
    yoml_t *root;
    int ret;

    setup_configurators(&server_conf.globalconf);
    server_conf.num_threads = h2o_numproc();
    /* libh2o's resolver (h2o_hostinfo) runs 1 thread unless told otherwise, shared by every Postgres, Redis and edge purge
     * lookup of every loop thread: one slow name held it and the others queued behind it. H2O's own server runs 32
     * (num-name-resolution-threads); threads start only when none is idle. Avatar source names have resolver threads of
     * their own (plugin/avatar/resolver.c). */
    h2o_hostinfo_max_threads = 32;
    if ((root = booka_yaml_load_file(config_file, err, sizeof(err))) == NULL) {
        fprintf(stderr, "%s\n", err);
        return EX_CONFIG;
    }
    /* libh2o's configurators copy what they keep, so the tree can go once applied */
    ret = apply_config(root);
    yoml_free(root, NULL);
    if (ret != 0) {
        fprintf(stderr, "booka-origin: configuration in %s is invalid\n", config_file);
        return EX_CONFIG;
    }
    return 0;
}

/* block_signals: SIGTERM, SIGINT and SIGHUP are taken by one thread with sigwait (signal_thread); every thread started
 * later inherits this mask. SIGPIPE is ignored. */
static void block_signals(sigset_t *signals)
{
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(signals);
    sigaddset(signals, SIGTERM);
    sigaddset(signals, SIGINT);
    sigaddset(signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, signals, NULL);
}

/* prepare_process: what the process needs before its threads start: the descriptor limit, the error log, line-buffered
 * output, the pid file, then the user to run as (everything that needs root is done by then: the listeners are bound,
 * the configuration's files and pipes opened). Returns 0, or the exit status after reporting why. */
static int prepare_process(void)
{
    int ret;

    raise_nofile_limit();
    if (redirect_error_log() != 0) {
        fprintf(stderr, "booka-origin: cannot open error-log %s: %s\n", server_conf.error_log, strerror(errno));
        return EX_CONFIG;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (write_pid_file() != 0)
        return EX_OSERR;
    if ((ret = switch_user()) != 0) {
        remove_pid_file();
        return ret;
    }
    h2o_srand();
    launch_time = time(NULL);
    return 0;
}

/* serve: one event loop per thread (this thread runs loop 0) and the signal thread; returns once every loop has drained
 * after SIGTERM or SIGINT. */
static void serve(sigset_t *signals)
{
    pthread_t sigtid;

    threads = h2o_mem_alloc(sizeof(*threads) * server_conf.num_threads);
    memset(threads, 0, sizeof(*threads) * server_conf.num_threads);
    h2o_barrier_init(&startup_barrier, server_conf.num_threads);
    h2o_barrier_init(&drained_barrier, server_conf.num_threads);
    for (size_t i = 1; i != server_conf.num_threads; ++i)
        h2o_multithread_create_thread(&threads[i].tid, NULL, run_thread, (void *)i);
    print_listeners();
    fprintf(stderr, "booka-origin %s (pid %d) serving with %zu threads\n", BOOKA_ORIGIN_VERSION, (int)getpid(),
            server_conf.num_threads);
    threads[0].tid = pthread_self();
    h2o_multithread_create_thread(&sigtid, NULL, signal_thread, signals);
    run_thread((void *)0);
    /* only the signal thread starts a shutdown, and it returns once it woke the loops: joined, it is not a thread the
     * process leaves behind (ThreadSanitizer's "thread leak") */
    pthread_join(sigtid, NULL);
}

/* main: the start-up steps in order, then serving until a signal, then the exit (23 when LeakSanitizer found leaks). */
int main(int argc, char **argv)
{
    const char *config_file = NULL;
    sigset_t signals;
    int ret;

    if ((ret = parse_args(argc, argv, &config_file)) != -1)
        return ret;
    if ((ret = load_config(config_file)) != 0)
        return ret;
    if (server_conf.dry_run) {
        printf("configuration OK\n");
        return 0;
    }
    if (server_bind_listeners() != 0)
        return EX_OSERR;
    block_signals(&signals);
    if ((ret = prepare_process()) != 0)
        return ret;
    serve(&signals);
    remove_pid_file();
    fprintf(stderr, "booka-origin: stopped (%d connections left open)\n", atomic_load(&num_connections));
    fflush(stderr);
    _exit(leaks_found_at_exit() ? 23 : 0);
}
