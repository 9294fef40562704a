/* flight.c: single-flight across threads. One global hash table of keys being filled (chained, doubling as flights
 * outnumber buckets, so a begin or a land costs the same with ten or ten thousand distinct misses in flight, under a
 * mutex held only for that); followers hear of the landing through their own loop's multithread receiver, or give up at
 * their deadline. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cache/store.h"

#define MIN_BUCKETS 64

struct flight {
    struct flight *next_in_bucket;
    uint64_t hash; /* booka_cache_key_hash of the key */
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

/* The table, under flights_mutex: num_buckets is 0 or a power of two; it never shrinks (its size follows the peak of
 * concurrent distinct misses, a few words per bucket). */
static pthread_mutex_t flights_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct flight **buckets;
static size_t num_buckets;
static size_t num_flights, num_waiting; /* for /metrics too */
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

/* find_slot: the link that points at the flight of (hash, key), or at the NULL ending its bucket. num_buckets != 0. */
static struct flight **find_slot(uint64_t hash, const char *key, size_t len)
{
    struct flight **slot = &buckets[hash & (num_buckets - 1)];
    for (; *slot != NULL; slot = &(*slot)->next_in_bucket)
        if ((*slot)->hash == hash && (*slot)->key_len == len && memcmp((*slot)->key, key, len) == 0)
            break;
    return slot;
}

/* grow: doubles the bucket array (MIN_BUCKETS at first); memory running out aborts, as for the flights themselves
 * (http/json.h, out of memory: the table's size is bounded by the fills in flight). */
static void grow(void)
{
    size_t n = num_buckets == 0 ? MIN_BUCKETS : num_buckets * 2;
    struct flight **fresh = h2o_mem_alloc(n * sizeof(*fresh));

    memset(fresh, 0, n * sizeof(*fresh));
    for (size_t i = 0; i != num_buckets; ++i) {
        for (struct flight *f = buckets[i], *next; f != NULL; f = next) {
            next = f->next_in_bucket;
            f->next_in_bucket = fresh[f->hash & (n - 1)];
            fresh[f->hash & (n - 1)] = f;
        }
    }
    free(buckets);
    buckets = fresh;
    num_buckets = n;
}

/* add_flight: a new flight for the key, its slot found empty by find_slot. */
static void add_flight(uint64_t hash, const char *key, size_t key_len)
{
    struct flight *f;

    if (num_flights >= num_buckets)
        grow();
    f = h2o_mem_alloc(offsetof(struct flight, key) + key_len + 1);
    f->hash = hash;
    f->key_len = key_len;
    memcpy(f->key, key, key_len);
    h2o_linklist_init_anchor(&f->waiters);
    f->next_in_bucket = buckets[hash & (num_buckets - 1)];
    buckets[hash & (num_buckets - 1)] = f;
    ++num_flights;
}

booka_flight_role_t booka_flight_begin(h2o_context_t *ctx, const char *key, size_t key_len, uint64_t wait_ms, booka_flight_cb cb,
                                       void *data, booka_flight_waiter_t **waiter)
{
    uint64_t hash = booka_cache_key_hash(key, key_len);
    struct booka_flight_waiter *w;
    struct flight *f;

    booka_flight_context_init(ctx);
    w = h2o_mem_alloc(sizeof(*w));
    *w = (struct booka_flight_waiter){.thread = this_thread, .cb = cb, .data = data, .state = WAITING};
    w->deadline.cb = on_deadline;
    pthread_mutex_lock(&flights_mutex);
    if ((f = num_buckets != 0 ? *find_slot(hash, key, key_len) : NULL) == NULL) {
        add_flight(hash, key, key_len);
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
    uint64_t hash = booka_cache_key_hash(key, key_len);
    struct flight **slot, *f = NULL;
    size_t n = 0;

    pthread_mutex_lock(&flights_mutex);
    if (num_buckets != 0 && *(slot = find_slot(hash, key, key_len)) != NULL) {
        f = *slot;
        *slot = f->next_in_bucket;
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
