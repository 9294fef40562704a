/* pool.c: one pool of libpq connections per target (primary, replica) per event-loop thread, created on first use.
 *
 * Every libpq call is non-blocking (link.c opens connections, conn.c keeps a pool's connections up, pipeline.c runs
 * queries, queue.c holds the waiting ones and the deadlines, metrics.c reports). One query at a time runs on a connection: a cancel
 * request then always hits the query it is meant for, and a lost connection loses exactly one query, which is retried when that is
 * safe. Queries wait in a bounded FIFO per pool. */
#include <stdlib.h>
#include "db/pool.h"
#include "http/http.h"

#define TICK_MS 20 /* granularity of the reconnect backoff */

const char *const db_target_names[NUM_TARGETS] = {"primary", "replica"};

/* A context's pools live in a thread-local list (normally of one): h2o_context_get_storage hands out its keys from a
 * static without a lock, which is racy when threads start together. The list is intrusive (linked through next_here)
 * so it allocates nothing that would be lost with the thread's TLS: each db_thread stays reachable from its context's
 * queue (the cancel_replies receiver), and LeakSanitizer sees nothing leaked at exit. */
static __thread struct db_thread *threads_here;

static void pool_init(struct pool *pool, struct db_thread *t, db_target_t *target, enum pool_target index)
{
    pool->thread = t;
    pool->target_index = index;
    pool->name = db_target_names[index];
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
    db_metrics_register(pool);
}

static void pool_start(struct pool *pool)
{
    for (size_t i = 0; i != db_settings.pool_size; ++i)
        db_conn_start(pool->conns + i);
}

/* db_thread_get: ctx's pools, created (and connecting) on first use; NULL when no database is configured. */
struct db_thread *db_thread_get(h2o_context_t *ctx)
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
    t->tick_entry.cb = db_on_reconnect_tick;
    h2o_multithread_register_receiver(ctx->queue, &t->cancel_replies, db_on_cancel_replies);
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
    db_thread_get(ctx);
}

unsigned booka_db_retry_after(h2o_context_t *ctx)
{
    struct db_thread *t = db_thread_get(ctx);
    uint64_t now;

    if (t == NULL || t->primary.down_until == 0)
        return 1;
    now = h2o_now(t->loop);
    return t->primary.down_until <= now + 1000 ? 1 : (unsigned)((t->primary.down_until - now + 999) / 1000);
}

int booka_db_is_up(h2o_context_t *ctx)
{
    struct db_thread *t = db_thread_get(ctx);
    return t != NULL && t->primary.live != 0;
}

int db_pool_is_down(struct pool *pool)
{
    return pool->live == 0 && pool->consecutive_failures != 0;
}

/* db_pool_for: where a query goes: the replica for read-only queries while it is set up, not down and readable (replica.c:
 * streaming within max-lag and past the current generation's fence), else the primary; BOOKA_DB_PRIMARY ones always to the
 * primary; the replica monitor's probes (DB_REPLICA_ONLY, only sent when a replica is set up) always to the replica. */
struct pool *db_pool_for(struct db_thread *t, booka_db_query_t *q)
{
    if ((q->flags & DB_REPLICA_ONLY) != 0)
        return &t->replica;
    if (t->has_replica && (q->flags & (BOOKA_DB_READ_ONLY | BOOKA_DB_PRIMARY)) == BOOKA_DB_READ_ONLY &&
        !db_pool_is_down(&t->replica) && db_replica_readable())
        return &t->replica;
    return &t->primary;
}
