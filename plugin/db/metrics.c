/* metrics.c: the pools' numbers: per-pool gauges and counters (atomics written by the pool's thread), process-wide latency
 * histograms, and their Prometheus text for /metrics. */
#include <pthread.h>
#include <stdlib.h>
#include "db/pool.h"
#include "metrics/metrics.h"

/* Process-wide latency histograms per target (the pools are per thread). */
static booka_histogram_t query_duration[NUM_TARGETS], queue_wait[NUM_TARGETS];

/* Every pool of the process, for /metrics: pools are created on their threads and never freed. */
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static H2O_VECTOR(struct pool *) registry;

void db_metrics_register(struct pool *pool)
{
    pthread_mutex_lock(&registry_mutex);
    h2o_vector_reserve(NULL, &registry, registry.size + 1);
    registry.entries[registry.size++] = pool;
    pthread_mutex_unlock(&registry_mutex);
}

void db_metrics_sent(struct pool *pool, const booka_db_query_t *q)
{
    booka_histogram_observe(&queue_wait[pool->target_index], q->sent_at > q->queued_at ? q->sent_at - q->queued_at : 0);
}

void db_metrics_done(struct pool *pool, const booka_db_query_t *q)
{
    booka_histogram_observe_since(&query_duration[pool->target_index], q->sent_at);
}

/* pool_snapshot: the pool's numbers, read with atomics (any thread). */
static void pool_snapshot(struct pool *pool, booka_db_stats_t *stats)
{
    *stats = (booka_db_stats_t){
        .connections = atomic_load(&pool->num_in_state[CONN_IDLE]) + atomic_load(&pool->num_in_state[CONN_BUSY]) +
                       atomic_load(&pool->num_in_state[CONN_CANCELLING]),
        .in_use = atomic_load(&pool->num_in_state[CONN_BUSY]) + atomic_load(&pool->num_in_state[CONN_CANCELLING]),
        .idle = atomic_load(&pool->num_in_state[CONN_IDLE]),
        .connecting = atomic_load(&pool->num_in_state[CONN_CONNECTING]),
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
    struct db_thread *t = db_thread_get(ctx);

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
        snprintf(labels, sizeof(labels), "pool=\"%s\"", db_target_names[t]);
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
                snprintf(labels, sizeof(labels), "pool=\"%s\",state=\"%s\"", db_target_names[t], families[i].state);
            else
                snprintf(labels, sizeof(labels), "pool=\"%s\"", db_target_names[t]);
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
