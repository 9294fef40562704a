/* flight.c: single-flight across threads. One global table of keys being filled; followers hear of the landing through
 * their own loop's multithread receiver, or give up at their deadline. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cache/store.h"

struct flight {
    h2o_linklist_t link; /* in `flights` */
    h2o_linklist_t waiters;
    size_t key_len;
    char key[1];
};

/* A follower. Its state moves WAITING -> LANDED (message in transit to its thread) or WAITING -> gone (timed out or
 * cancelled on its own thread); every transition out of WAITING happens under `flights_mutex`. */
struct booka_flight_waiter {
    h2o_multithread_message_t message; /* delivery to the waiter's thread */
    h2o_linklist_t link;               /* in its flight's `waiters` while WAITING */
    struct thread_state *thread;
    h2o_timeout_entry_t deadline;
    booka_flight_cb cb;
    void *data;
    booka_cache_value_t *value;
    enum { WAITING, LANDED } state;
    int cancelled; /* LANDED, but the request went away: drop the value on arrival */
};

/* Per loop thread: where landings arrive, and one h2o_timeout_t per distinct wait (libh2o 2.2 timeouts are fixed). */
struct thread_state {
    h2o_context_t *ctx;
    h2o_multithread_receiver_t receiver;
    H2O_VECTOR(h2o_timeout_t *) timeouts;
};

static pthread_mutex_t flights_mutex = PTHREAD_MUTEX_INITIALIZER;
static h2o_linklist_t flights = {&flights, &flights};
static size_t num_flights, num_waiting; /* under flights_mutex, for /metrics */
static __thread struct thread_state *this_thread;

static void finish(struct booka_flight_waiter *w, booka_cache_value_t *value)
{
    if (h2o_timeout_is_linked(&w->deadline))
        h2o_timeout_unlink(&w->deadline);
    w->cb(w->data, value);
    free(w);
}

static void on_landings(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        struct booka_flight_waiter *w = H2O_STRUCT_FROM_MEMBER(struct booka_flight_waiter, message.link, messages->next);
        h2o_linklist_unlink(&w->message.link);
        if (w->cancelled) {
            booka_cache_value_release(w->value);
            free(w);
        } else {
            finish(w, w->value);
        }
    }
}

void booka_flight_context_init(h2o_context_t *ctx)
{
    if (this_thread != NULL)
        return;
    this_thread = h2o_mem_alloc(sizeof(*this_thread));
    *this_thread = (struct thread_state){.ctx = ctx};
    h2o_multithread_register_receiver(ctx->queue, &this_thread->receiver, on_landings);
}

void booka_flight_context_dispose(h2o_context_t *ctx)
{
    if (this_thread == NULL)
        return;
    h2o_multithread_unregister_receiver(ctx->queue, &this_thread->receiver);
    for (size_t i = 0; i != this_thread->timeouts.size; ++i) {
        h2o_timeout_dispose(ctx->loop, this_thread->timeouts.entries[i]);
        free(this_thread->timeouts.entries[i]);
    }
    free(this_thread->timeouts.entries);
    free(this_thread);
    this_thread = NULL;
}

/* timeout_for: this thread's h2o_timeout_t of `ms`, made on first use. */
static h2o_timeout_t *timeout_for(struct thread_state *t, uint64_t ms)
{
    h2o_timeout_t *timeout;
    for (size_t i = 0; i != t->timeouts.size; ++i)
        if (t->timeouts.entries[i]->timeout == ms)
            return t->timeouts.entries[i];
    timeout = h2o_mem_alloc(sizeof(*timeout));
    h2o_timeout_init(t->ctx->loop, timeout, ms);
    h2o_vector_reserve(NULL, &t->timeouts, t->timeouts.size + 1);
    t->timeouts.entries[t->timeouts.size++] = timeout;
    return timeout;
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    struct booka_flight_waiter *w = H2O_STRUCT_FROM_MEMBER(struct booka_flight_waiter, deadline, entry);
    int gave_up = 0;

    pthread_mutex_lock(&flights_mutex);
    if (w->state == WAITING) {
        h2o_linklist_unlink(&w->link);
        --num_waiting;
        gave_up = 1;
    }
    pthread_mutex_unlock(&flights_mutex);
    if (gave_up)
        finish(w, NULL); /* else the landing message is on its way and will finish it */
}

static struct flight *find_flight(const char *key, size_t len)
{
    for (h2o_linklist_t *l = flights.next; l != &flights; l = l->next) {
        struct flight *f = H2O_STRUCT_FROM_MEMBER(struct flight, link, l);
        if (f->key_len == len && memcmp(f->key, key, len) == 0)
            return f;
    }
    return NULL;
}

booka_flight_role_t booka_flight_begin(h2o_context_t *ctx, const char *key, size_t key_len, uint64_t wait_ms, booka_flight_cb cb,
                                       void *data, booka_flight_waiter_t **waiter)
{
    struct booka_flight_waiter *w;
    struct flight *f;

    booka_flight_context_init(ctx);
    w = h2o_mem_alloc(sizeof(*w));
    *w = (struct booka_flight_waiter){.thread = this_thread, .cb = cb, .data = data, .state = WAITING};
    w->deadline.cb = on_deadline;
    pthread_mutex_lock(&flights_mutex);
    if ((f = find_flight(key, key_len)) == NULL) {
        f = h2o_mem_alloc(offsetof(struct flight, key) + key_len + 1);
        f->link = (h2o_linklist_t){NULL}; /* h2o_linklist_insert asserts the node is not linked: it reads next */
        f->key_len = key_len;
        memcpy(f->key, key, key_len);
        h2o_linklist_init_anchor(&f->waiters);
        h2o_linklist_insert(&flights, &f->link);
        ++num_flights;
        pthread_mutex_unlock(&flights_mutex);
        free(w);
        *waiter = NULL;
        return BOOKA_FLIGHT_LEAD;
    }
    h2o_linklist_insert(&f->waiters, &w->link);
    ++num_waiting;
    pthread_mutex_unlock(&flights_mutex);
    h2o_timeout_link(ctx->loop, timeout_for(this_thread, wait_ms), &w->deadline);
    *waiter = w;
    return BOOKA_FLIGHT_FOLLOW;
}

size_t booka_flight_land(const char *key, size_t key_len, booka_cache_value_t *value)
{
    struct flight *f;
    size_t n = 0;

    pthread_mutex_lock(&flights_mutex);
    if ((f = find_flight(key, key_len)) != NULL) {
        h2o_linklist_unlink(&f->link);
        --num_flights;
        while (!h2o_linklist_is_empty(&f->waiters)) {
            struct booka_flight_waiter *w = H2O_STRUCT_FROM_MEMBER(struct booka_flight_waiter, link, f->waiters.next);
            h2o_linklist_unlink(&w->link);
            --num_waiting;
            w->state = LANDED;
            if ((w->value = value) != NULL)
                booka_cache_value_retain(value);
            h2o_multithread_send_message(&w->thread->receiver, &w->message);
            ++n;
        }
    }
    pthread_mutex_unlock(&flights_mutex);
    free(f);
    return n;
}

void booka_flight_cancel(booka_flight_waiter_t *w)
{
    int gone = 0;

    pthread_mutex_lock(&flights_mutex);
    if (w->state == WAITING) {
        h2o_linklist_unlink(&w->link);
        --num_waiting;
        gone = 1;
    } else {
        w->cancelled = 1; /* the landing message still arrives; on_landings frees it */
    }
    pthread_mutex_unlock(&flights_mutex);
    if (h2o_timeout_is_linked(&w->deadline))
        h2o_timeout_unlink(&w->deadline);
    if (gone)
        free(w);
}

void booka_flight_counts(size_t *flights_now, size_t *waiting_now)
{
    pthread_mutex_lock(&flights_mutex);
    *flights_now = num_flights;
    *waiting_now = num_waiting;
    pthread_mutex_unlock(&flights_mutex);
}
