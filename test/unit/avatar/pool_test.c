/* pool_test.c: plugin/avatar/pool.c: jobs run on workers, come back to the submitting loop, and the bound refuses what
 * does not fit. */
#include <pthread.h>
#include <stdlib.h>
#include "unit.h"
#include "avatar/internal.h"

struct test_job {
    avatar_job_t super;
    pthread_t loop_thread, ran_on;
    int done_on_loop;
};

static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open = 1;
static size_t num_done;

static void run_job(avatar_job_t *_job)
{
    struct test_job *job = (struct test_job *)_job;
    pthread_mutex_lock(&gate_mutex);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_mutex);
    pthread_mutex_unlock(&gate_mutex);
    job->ran_on = pthread_self();
}

static void on_job_done(avatar_job_t *_job)
{
    struct test_job *job = (struct test_job *)_job;
    job->done_on_loop = pthread_equal(pthread_self(), job->loop_thread) && !pthread_equal(job->ran_on, job->loop_thread);
    ++num_done;
}

static void set_gate(int open)
{
    pthread_mutex_lock(&gate_mutex);
    gate_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_mutex);
}

static void run_loop_until(h2o_loop_t *loop, size_t done)
{
    for (int i = 0; i != 1000 && num_done < done; ++i)
        h2o_evloop_run(loop, 10);
}

int main(void)
{
    h2o_loop_t *loop = h2o_evloop_create();
    h2o_multithread_queue_t *queue = h2o_multithread_create_queue(loop);
    h2o_multithread_receiver_t receiver;
    avatar_pool_t *pool = avatar_pool_create(2, 3, 0);
    struct test_job jobs[8];

    h2o_multithread_register_receiver(queue, &receiver, avatar_pool_on_done);
    for (size_t i = 0; i != 8; ++i)
        jobs[i] = (struct test_job){{.receiver = &receiver, .run = run_job, .done = on_job_done}, pthread_self()};

    /* nothing runs before start; the bound is threads + queue-limit unfinished jobs */
    set_gate(0);
    for (size_t i = 0; i != 5; ++i)
        CHECK(avatar_pool_submit(pool, &jobs[i].super) == 0);
    CHECK(avatar_pool_submit(pool, &jobs[5].super) == -1);
    avatar_pool_start(pool);
    avatar_pool_start(pool); /* idempotent */
    CHECK(avatar_pool_submit(pool, &jobs[5].super) == -1);
    set_gate(1);
    run_loop_until(loop, 5);
    CHECK_INT_EQ(num_done, 5);
    for (size_t i = 0; i != 5; ++i)
        CHECK(jobs[i].done_on_loop);

    /* room again once they finished */
    CHECK(avatar_pool_submit(pool, &jobs[5].super) == 0);
    CHECK(avatar_pool_submit(pool, &jobs[6].super) == 0);
    run_loop_until(loop, 7);
    CHECK_INT_EQ(num_done, 7);
    CHECK(jobs[5].done_on_loop && jobs[6].done_on_loop);

    h2o_multithread_unregister_receiver(queue, &receiver);
    h2o_multithread_destroy_queue(queue);
    free(queue); /* libh2o 2.2.5 disposes of the queue without freeing it */
    h2o_evloop_destroy(loop);
    return unit_report("avatar_pool");
}
