/* pool.c: the worker threads that decode, resize and encode, so no event loop ever does: a bounded FIFO of jobs, each
 * returned to its loop by an h2o multithread message; and the memory budget the running jobs share. */
#include <pthread.h>
#include <stdlib.h>
#include "avatar/internal.h"
#include "metrics/metrics.h"

struct avatar_pool {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    avatar_job_t *head, *tail; /* waiting jobs, oldest first */
    size_t unfinished;         /* waiting + running */
    size_t running;
    size_t capacity; /* num_threads + queue_limit */
    size_t num_threads;
    uint64_t memory_budget; /* bytes the running jobs may reserve together; 0: no budget */
    uint64_t reserved;      /* what they hold now */
    int started;
    avatar_pool_t *next_pool; /* in `pools` */
};

/* Every pool (one per booka.avatar path), for /metrics; created while the configuration is applied, never freed. */
static avatar_pool_t *pools;
static booka_histogram_t queue_wait, run_time;

_Atomic uint64_t avatar_stat_memory_busy;

avatar_pool_t *avatar_pool_create(size_t num_threads, size_t queue_limit, uint64_t memory_budget)
{
    avatar_pool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->num_threads = num_threads;
    pool->capacity = num_threads + queue_limit;
    pool->memory_budget = memory_budget;
    pool->next_pool = pools;
    pools = pool;
    return pool;
}

/* worker_main: takes jobs in order, runs them, sends each back to its loop. Runs for the life of the process. */
static void *worker_main(void *arg)
{
    avatar_pool_t *pool = arg;

    for (;;) {
        avatar_job_t *job;
        uint64_t started;
        pthread_mutex_lock(&pool->mutex);
        while (pool->head == NULL)
            pthread_cond_wait(&pool->cond, &pool->mutex);
        job = pool->head;
        if ((pool->head = job->next) == NULL)
            pool->tail = NULL;
        ++pool->running;
        pthread_mutex_unlock(&pool->mutex);

        started = booka_clock_us();
        job->queue_us = started > job->submitted_at ? started - job->submitted_at : 0;
        booka_histogram_observe(&queue_wait, job->queue_us);
        job->run(job);
        job->run_us = booka_histogram_observe_since(&run_time, started);

        pthread_mutex_lock(&pool->mutex);
        --pool->unfinished;
        --pool->running;
        pthread_mutex_unlock(&pool->mutex);
        h2o_multithread_send_message(job->receiver, &job->super);
    }
    return NULL;
}

void avatar_pool_start(avatar_pool_t *pool)
{
    pthread_mutex_lock(&pool->mutex);
    if (!pool->started) {
        pool->started = 1;
        for (size_t i = 0; i != pool->num_threads; ++i) {
            pthread_t tid;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            h2o_multithread_create_thread(&tid, &attr, worker_main, pool);
            pthread_attr_destroy(&attr);
        }
    }
    pthread_mutex_unlock(&pool->mutex);
}

int avatar_pool_is_full(avatar_pool_t *pool)
{
    int full;

    pthread_mutex_lock(&pool->mutex);
    full = pool->unfinished >= pool->capacity;
    pthread_mutex_unlock(&pool->mutex);
    return full;
}

int avatar_pool_submit(avatar_pool_t *pool, avatar_job_t *job)
{
    int ret = -1;

    pthread_mutex_lock(&pool->mutex);
    if (pool->unfinished < pool->capacity) {
        job->next = NULL;
        job->submitted_at = booka_clock_us();
        if (pool->tail != NULL)
            pool->tail->next = job;
        else
            pool->head = job;
        pool->tail = job;
        ++pool->unfinished;
        pthread_cond_signal(&pool->cond);
        ret = 0;
    }
    pthread_mutex_unlock(&pool->mutex);
    return ret;
}

int avatar_pool_reserve(avatar_pool_t *pool, uint64_t bytes)
{
    int ret = 0;

    if (pool->memory_budget == 0)
        return 0;
    if (bytes > pool->memory_budget)
        return -2;
    pthread_mutex_lock(&pool->mutex);
    if (bytes <= pool->memory_budget - pool->reserved)
        pool->reserved += bytes;
    else
        ret = -1;
    pthread_mutex_unlock(&pool->mutex);
    if (ret != 0)
        atomic_fetch_add(&avatar_stat_memory_busy, 1);
    return ret;
}

void avatar_pool_release(avatar_pool_t *pool, uint64_t bytes)
{
    if (pool->memory_budget == 0)
        return;
    pthread_mutex_lock(&pool->mutex);
    pool->reserved -= bytes;
    pthread_mutex_unlock(&pool->mutex);
}

void avatar_pool_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        avatar_job_t *job = H2O_STRUCT_FROM_MEMBER(avatar_job_t, super.link, messages->next);
        h2o_linklist_unlink(&job->super.link);
        job->done(job);
    }
}

void avatar_pool_collect_metrics(booka_buf_t *out)
{
    size_t waiting = 0, running = 0, threads = 0;
    uint64_t reserved = 0, budget = 0;

    for (avatar_pool_t *pool = pools; pool != NULL; pool = pool->next_pool) {
        pthread_mutex_lock(&pool->mutex);
        waiting += pool->unfinished - pool->running;
        running += pool->running;
        threads += pool->num_threads;
        reserved += pool->reserved;
        budget += pool->memory_budget;
        pthread_mutex_unlock(&pool->mutex);
    }
    booka_metrics_write_header(out, "booka_avatar_queue_depth", "gauge", "Avatar render jobs waiting for a worker thread.");
    booka_metrics_write_sample(out, "booka_avatar_queue_depth", "", (double)waiting);
    booka_metrics_write_header(out, "booka_avatar_workers_busy", "gauge", "Avatar worker threads rendering a job now.");
    booka_metrics_write_sample(out, "booka_avatar_workers_busy", "", (double)running);
    booka_metrics_write_header(out, "booka_avatar_workers", "gauge", "Avatar worker threads (booka.avatar worker-threads).");
    booka_metrics_write_sample(out, "booka_avatar_workers", "", (double)threads);
    booka_metrics_write_header(out, "booka_avatar_memory_reserved_bytes", "gauge",
                               "Memory the running avatar renders have reserved from worker-memory-budget (their estimated peak).");
    booka_metrics_write_sample(out, "booka_avatar_memory_reserved_bytes", "", (double)reserved);
    booka_metrics_write_header(out, "booka_avatar_memory_budget_bytes", "gauge",
                               "The avatar workers' memory budget (booka.avatar worker-memory-budget; 0: none).");
    booka_metrics_write_sample(out, "booka_avatar_memory_budget_bytes", "", (double)budget);
    booka_metrics_write_header(out, "booka_avatar_queue_wait_seconds", "histogram",
                               "Time avatar render jobs waited for a worker thread.");
    booka_metrics_write_histogram(out, "booka_avatar_queue_wait_seconds", "", &queue_wait);
    booka_metrics_write_header(out, "booka_avatar_render_duration_seconds", "histogram",
                               "Time a worker spent on one avatar render job: read or take the source, decode, crop, resize, "
                               "encode.");
    booka_metrics_write_histogram(out, "booka_avatar_render_duration_seconds", "", &run_time);
}
