/* configurator.c: `booka.postgres` and `booka.postgres-replica`, and the libpq connection parameters built from them. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "h2o.h"
#include "h2o/configurator.h"
#include "db/db.h"
#include "db/internal.h"
#include "config/table.h"
#include "health/health.h"

db_settings_t db_settings = {
    .pool_size = 4,
    .queue_limit = 128,
    .query_timeout = 3000,
    .connect_timeout = 2000,
    .cancel_grace = 1000,
    .max_reconnect_delay = 2000,
    .replica_max_lag = 5000,
    .replica_interval = 100,
};

static int statement_timeout_given;

void booka_db_require(void)
{
    db_settings.required = 1;
}

/* needs_resolving: whether one element of a libpq `host` list is a name (not a socket directory, not a numeric address). */
static int needs_resolving(const char *host, size_t len)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr addr;

    if (len == 0 || host[0] == '/' || host[0] == '@')
        return 0;
    if (len >= sizeof(buf))
        return 1;
    memcpy(buf, host, len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, &addr) != 1 && inet_pton(AF_INET6, buf, &addr) != 1;
}

/* split_list: the elements of a comma-separated libpq list (host, port), copied; *count gets their number. */
static char **split_list(const char *list, size_t *count)
{
    size_t n = 1, i = 0;
    char **items;

    for (const char *p = list; *p != '\0'; ++p)
        n += *p == ',';
    items = h2o_mem_alloc(n * sizeof(*items));
    for (const char *p = list;; p += strcspn(p, ",") + 1) {
        items[i++] = h2o_strdup(NULL, p, strcspn(p, ",")).base;
        if (p[strcspn(p, ",")] == '\0')
            break;
    }
    *count = n;
    return items;
}

/* plan_resolving: when some element of the host list is a name, prepares the target for resolving it before each
 * attempt (libpq would call getaddrinfo inside PQconnectStart, on the loop): host, port and hostaddr are then rebuilt
 * per attempt, one entry per resolved address. */
static void plan_resolving(db_target_t *target, const char *host, const char *port, size_t *n)
{
    int any = 0;

    target->hosts = split_list(host, &target->num_hosts);
    target->resolve = h2o_mem_alloc(target->num_hosts * sizeof(*target->resolve));
    for (size_t i = 0; i != target->num_hosts; ++i)
        any |= target->resolve[i] = needs_resolving(target->hosts[i], strlen(target->hosts[i]));
    if (!any) {
        free(target->resolve);
        target->resolve = NULL;
        return;
    }
    target->ports = port != NULL ? split_list(port, &target->num_ports) : NULL;
    for (size_t i = 0; i != *n; ++i) {
        if (strcmp(target->keywords[i], "host") == 0)
            target->host_index = i;
        if (strcmp(target->keywords[i], "port") == 0)
            target->port_index = i;
    }
    target->hostaddr_index = *n;
    target->keywords[*n] = h2o_strdup(NULL, "hostaddr", SIZE_MAX).base;
    target->values[(*n)++] = h2o_strdup(NULL, "", SIZE_MAX).base;
}

int db_target_prepare(db_target_t *target, const db_settings_t *settings, char *err, size_t errlen)
{
    static const char *const defaults[][2] = {
        {"application_name", "booka-origin"}, {"keepalives", "1"},       {"keepalives_idle", "30"},
        {"keepalives_interval", "10"},        {"keepalives_count", "3"}, {"gssencmode", "disable"},
    };
    PQconninfoOption *opts, *o;
    char *errmsg = NULL, options[512] = "";
    const char *given_options = NULL, *host = NULL, *hostaddr = NULL, *port = NULL;
    size_t n = 0, cap;

    if ((opts = PQconninfoParse(target->conninfo, &errmsg)) == NULL) {
        snprintf(err, errlen, "invalid connection string: %s", errmsg != NULL ? errmsg : "out of memory");
        PQfreemem(errmsg);
        return -1;
    }
    for (o = opts; o->keyword != NULL; ++o)
        ++n;
    cap = n + sizeof(defaults) / sizeof(defaults[0]) + 3;
    target->keywords = calloc(cap, sizeof(char *));
    target->values = calloc(cap, sizeof(char *));
    n = 0;
    for (o = opts; o->keyword != NULL; ++o) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "options") == 0) {
            given_options = o->val;
            continue;
        }
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
        if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        target->keywords[n] = h2o_strdup(NULL, o->keyword, SIZE_MAX).base;
        target->values[n++] = h2o_strdup(NULL, o->val, SIZE_MAX).base;
    }
    for (size_t i = 0; i != sizeof(defaults) / sizeof(defaults[0]); ++i) {
        int given = 0;
        for (size_t j = 0; j != n; ++j)
            given |= strcmp(target->keywords[j], defaults[i][0]) == 0;
        if (!given) {
            const char *value = i == 0 && target->application_name != NULL ? target->application_name : defaults[i][1];
            target->keywords[n] = h2o_strdup(NULL, defaults[i][0], SIZE_MAX).base;
            target->values[n++] = h2o_strdup(NULL, value, SIZE_MAX).base;
        }
    }
    /* Session settings travel as startup options (pgBouncer refuses those): plans are made for the actual values of each
     * execution (a generic plan cannot see a selective category or location; named statements still save the parse), JIT
     * is off (it only adds compile time to these short plans), and statement_timeout backs up our deadline. The URL's own
     * options come last, so they win. */
    if (!settings->pgbouncer) {
        snprintf(options, sizeof(options), "-c plan_cache_mode=force_custom_plan -c jit=off");
        if (settings->statement_timeout != 0)
            snprintf(options + strlen(options), sizeof(options) - strlen(options), " -c statement_timeout=%" PRIu64,
                     settings->statement_timeout);
    }
    if (given_options != NULL)
        snprintf(options + strlen(options), sizeof(options) - strlen(options), "%s%s", options[0] != '\0' ? " " : "",
                 given_options);
    if (options[0] != '\0') {
        target->keywords[n] = h2o_strdup(NULL, "options", SIZE_MAX).base;
        target->values[n++] = h2o_strdup(NULL, options, SIZE_MAX).base;
    }
    target->port_index = SIZE_MAX;
    if (host != NULL && hostaddr == NULL)
        plan_resolving(target, host, port, &n);
    target->keywords[n] = NULL;
    target->values[n] = NULL;
    PQconninfoFree(opts);
    return 0;
}

void db_target_dispose(db_target_t *target)
{
    for (size_t i = 0; target->keywords != NULL && target->keywords[i] != NULL; ++i) {
        free((char *)target->keywords[i]);
        free((char *)target->values[i]);
    }
    free(target->keywords);
    free(target->values);
    for (size_t i = 0; target->hosts != NULL && i != target->num_hosts; ++i)
        free(target->hosts[i]);
    free(target->hosts);
    for (size_t i = 0; target->ports != NULL && i != target->num_ports; ++i)
        free(target->ports[i]);
    free(target->ports);
    free(target->resolve);
    *target = (db_target_t){.conninfo = target->conninfo, .application_name = target->application_name};
}

static int set_url(h2o_configurator_command_t *cmd, yoml_t *node, db_target_t *target)
{
    if (node->type != YOML_TYPE_SCALAR) {
        h2o_configurator_errprintf(cmd, node, "expected a connection string");
        return -1;
    }
    free(target->conninfo);
    target->conninfo = h2o_strdup(NULL, node->data.scalar, SIZE_MAX).base;
    return 0;
}

/* set_listen_url: `listen-url`, the LISTEN connection's own connection string, checked now so a typo fails the
 * configuration. */
static int set_listen_url(h2o_configurator_command_t *cmd, yoml_t *node)
{
    char *err = NULL;
    PQconninfoOption *opts;

    if (node->type != YOML_TYPE_SCALAR) {
        h2o_configurator_errprintf(cmd, node, "expected a connection string");
        return -1;
    }
    if ((opts = PQconninfoParse(node->data.scalar, &err)) == NULL) {
        h2o_configurator_errprintf(cmd, node, "not a connection string: %s", err != NULL ? err : "out of memory");
        PQfreemem(err);
        return -1;
    }
    PQconninfoFree(opts);
    free(db_settings.listen.conninfo);
    db_settings.listen.conninfo = h2o_strdup(NULL, node->data.scalar, SIZE_MAX).base;
    return 0;
}

static int set_primary_url(h2o_configurator_command_t *cmd, yoml_t *value, void *settings)
{
    return set_url(cmd, value, &((db_settings_t *)settings)->primary);
}

static int set_listen_url_key(h2o_configurator_command_t *cmd, yoml_t *value, void *settings)
{
    return set_listen_url(cmd, value);
}

static const booka_config_key_t postgres_keys[] = {
    BOOKA_CONFIG_CUSTOM("url", set_primary_url),
    BOOKA_CONFIG_COUNT("pool-size", db_settings_t, pool_size, 1, 256),
    BOOKA_CONFIG_COUNT("queue-limit", db_settings_t, queue_limit, 0, 1000000),
    BOOKA_CONFIG_DURATION("query-timeout", db_settings_t, query_timeout, BOOKA_CONFIG_MS, 1, 3600000),
    BOOKA_CONFIG_DURATION("connect-timeout", db_settings_t, connect_timeout, BOOKA_CONFIG_MS, 1, 3600000),
    BOOKA_CONFIG_DURATION("statement-timeout", db_settings_t, statement_timeout, BOOKA_CONFIG_MS, 0, 3600000),
    BOOKA_CONFIG_DURATION("cancel-grace", db_settings_t, cancel_grace, BOOKA_CONFIG_MS, 1, 3600000),
    BOOKA_CONFIG_DURATION("max-reconnect-delay", db_settings_t, max_reconnect_delay, BOOKA_CONFIG_MS, 10, 3600000),
    BOOKA_CONFIG_FLAG("pgbouncer", db_settings_t, pgbouncer),
    BOOKA_CONFIG_CUSTOM("listen-url", set_listen_url_key),
};

/* on_config_postgres: a connection string, or a mapping of postgres_keys. */
static int on_config_postgres(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    if (node->type == YOML_TYPE_SCALAR)
        return set_url(cmd, node, &db_settings.primary);
    if (booka_config_apply(cmd, node, postgres_keys, BOOKA_CONFIG_NKEYS(postgres_keys), &db_settings, NULL) != 0)
        return -1;
    statement_timeout_given |= yoml_get(node, "statement-timeout") != NULL;
    booka_db_require();
    return 0;
}

static int set_replica_url(h2o_configurator_command_t *cmd, yoml_t *value, void *settings)
{
    return set_url(cmd, value, &((db_settings_t *)settings)->replica);
}

enum { REPLICA_URL, REPLICA_MAX_LAG, REPLICA_PROBE_INTERVAL };
static const booka_config_key_t replica_keys[] = {
    [REPLICA_URL] = BOOKA_CONFIG_CUSTOM("url", set_replica_url),
    [REPLICA_MAX_LAG] = BOOKA_CONFIG_DURATION("max-lag", db_settings_t, replica_max_lag, BOOKA_CONFIG_MS, 100, 3600000),
    [REPLICA_PROBE_INTERVAL] = BOOKA_CONFIG_DURATION("probe-interval", db_settings_t, replica_interval, BOOKA_CONFIG_MS, 10, 60000),
};

/* on_config_postgres_replica: the read replica's connection string, or a mapping of replica_keys (url required). */
static int on_config_postgres_replica(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    yoml_t *given[BOOKA_CONFIG_NKEYS(replica_keys)];

    if (node->type == YOML_TYPE_SCALAR)
        return set_url(cmd, node, &db_settings.replica);
    if (booka_config_apply(cmd, node, replica_keys, BOOKA_CONFIG_NKEYS(replica_keys), &db_settings, given) != 0)
        return -1;
    if (given[REPLICA_URL] == NULL) {
        h2o_configurator_errprintf(cmd, node, "the mapping needs a `url`");
        return -1;
    }
    if (given[REPLICA_PROBE_INTERVAL] != NULL && db_settings.replica_interval > db_settings.replica_max_lag) {
        h2o_configurator_errprintf(cmd, given[REPLICA_PROBE_INTERVAL], "probe-interval cannot exceed max-lag");
        return -1;
    }
    return 0;
}

static int postgres_is_up(h2o_context_t *ctx, void *data)
{
    return booka_db_is_up(ctx);
}

/* prepare_listen: the LISTEN connection's target: `listen-url`, else the primary's url; named apart in pg_stat_activity
 * (booka-origin-listen) from the pools' connections. */
static int prepare_listen(yoml_t *node)
{
    char err[512];

    if (db_settings.listen.conninfo == NULL)
        db_settings.listen.conninfo = h2o_strdup(NULL, db_settings.primary.conninfo, SIZE_MAX).base;
    db_settings.listen.application_name = "booka-origin-listen";
    if (db_target_prepare(&db_settings.listen, &db_settings, err, sizeof(err)) != 0) {
        h2o_configurator_errprintf(NULL, node, "booka.postgres: listen-url: %s", err);
        return -1;
    }
    return 0;
}

/* on_config_exit: once the whole configuration is read: the connection string falls back to DATABASE_URL, both targets are
 * parsed (so a bad URL is a configuration error), and /readyz learns about Postgres. */
static int on_config_exit(h2o_configurator_t *self, h2o_configurator_context_t *ctx, yoml_t *node)
{
    char err[512];
    const char *env;

    if (ctx->parent != NULL || !db_settings.required)
        return 0;
    if (db_settings.primary.conninfo == NULL && (env = getenv("DATABASE_URL")) != NULL && env[0] != '\0')
        db_settings.primary.conninfo = h2o_strdup(NULL, env, SIZE_MAX).base;
    if (db_settings.primary.conninfo == NULL) {
        /* -t may run where the secret is not (an image build): there it is a warning, at start-up an error */
        h2o_configurator_errprintf(NULL, node,
                                   "%sthe database is used but has no connection string: set `booka.postgres: {url: ...}` "
                                   "or the environment variable DATABASE_URL",
                                   ctx->dry_run ? "warning: " : "");
        return ctx->dry_run ? 0 : -1;
    }
    if (!statement_timeout_given)
        db_settings.statement_timeout = db_settings.query_timeout;
    if (db_target_prepare(&db_settings.primary, &db_settings, err, sizeof(err)) != 0) {
        h2o_configurator_errprintf(NULL, node, "booka.postgres: %s", err);
        return -1;
    }
    if (db_settings.replica.conninfo != NULL) {
        if (db_target_prepare(&db_settings.replica, &db_settings, err, sizeof(err)) != 0) {
            h2o_configurator_errprintf(NULL, node, "booka.postgres-replica: %s", err);
            return -1;
        }
        db_replica_configure();
    }
    if (db_settings.pgbouncer && db_settings.listen.conninfo == NULL)
        h2o_configurator_errprintf(NULL, node,
                                   "warning: booka.postgres has pgbouncer: ON and no listen-url: cache invalidation cannot "
                                   "LISTEN through transaction pooling, so cached lists change only when they expire; set "
                                   "listen-url to Postgres itself (or a session-mode pool)");
    else if (prepare_listen(node) != 0)
        return -1;
    booka_health_add_dependency("postgres", 1, postgres_is_up, NULL);
    booka_health_add_context_init(booka_db_context_init);
    return 0;
}

void booka_db_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    const int flags = H2O_CONFIGURATOR_FLAG_GLOBAL | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR | H2O_CONFIGURATOR_FLAG_EXPECT_MAPPING;

    c->exit = on_config_exit;
    h2o_configurator_define_command(c, "booka.postgres", flags, on_config_postgres);
    h2o_configurator_define_command(c, "booka.postgres-replica", flags, on_config_postgres_replica);
}
