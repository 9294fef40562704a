/* pool.c: the worker threads that decode, resize and encode, so no event loop ever does: a bounded FIFO of jobs, each
 * returned to its loop by an h2o multithread message. */
#include <pthread.h>
#include <stdlib.h>
#include "avatar/internal.h"

struct avatar_pool {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    avatar_job_t *head, *tail; /* waiting jobs, oldest first */
    size_t unfinished;         /* waiting + running */
    size_t capacity;           /* num_threads + queue_limit */
    size_t num_threads;
    int started;
};

avatar_pool_t *avatar_pool_create(size_t num_threads, size_t queue_limit)
{
    avatar_pool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->num_threads = num_threads;
    pool->capacity = num_threads + queue_limit;
    return pool;
}

/* worker_main: takes jobs in order, runs them, sends each back to its loop. Runs for the life of the process. */
static void *worker_main(void *arg)
{
    avatar_pool_t *pool = arg;

    for (;;) {
        avatar_job_t *job;
        pthread_mutex_lock(&pool->mutex);
        while (pool->head == NULL)
            pthread_cond_wait(&pool->cond, &pool->mutex);
        job = pool->head;
        if ((pool->head = job->next) == NULL)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->mutex);

        job->run(job);

        pthread_mutex_lock(&pool->mutex);
        --pool->unfinished;
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

int avatar_pool_submit(avatar_pool_t *pool, avatar_job_t *job)
{
    int ret = -1;

    pthread_mutex_lock(&pool->mutex);
    if (pool->unfinished < pool->capacity) {
        job->next = NULL;
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

void avatar_pool_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        avatar_job_t *job = H2O_STRUCT_FROM_MEMBER(avatar_job_t, super.link, messages->next);
        h2o_linklist_unlink(&job->super.link);
        job->done(job);
    }
}
