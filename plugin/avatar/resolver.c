/* resolver.c: the host names of picture URLs, resolved on threads of the avatar module's own (see internal.h, "name
 * resolution").
 *
 * Why not libh2o's resolver (h2o_hostinfo): its threads are shared by Postgres, Redis and edge purges, and a lookup holds
 * its thread until getaddrinfo returns, ~10 s or more for a name whose DNS never answers: one stored picture URL on such
 * a name stalled every database reconnect behind it (libh2o 2.2.5 runs 1 thread by default). More threads there do not
 * separate the two: they take lookups in order from one queue, so avatar lookups waiting in it are taken before a
 * database lookup queued after them, and a thread is created only when none is idle at the moment a lookup is queued.
 * Here avatar lookups have threads and a queue apart, and at most AVATAR_RESOLVER_THREADS of them are in flight, each
 * with a thread of its own: one name that hangs delays no other lookup, and many only refuse more avatar lookups. */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avatar/internal.h"

struct resolve_request {
    h2o_multithread_message_t message; /* the answer's way back to the requesting loop */
    avatar_context_t *actx;
    struct resolve_request *next; /* in the queue */
    avatar_resolve_cb cb;
    void *data;
    int error; /* getaddrinfo's */
    struct addrinfo *res;
    char serv[sizeof("65535")];
    char host[1];
};

/* The queue, under `mutex`: `starting` threads are created but not yet waiting, `idle` ones wait on `cond`; a lookup
 * queued while the pending ones outnumber them starts one more thread. */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct resolve_request *queue_head, **queue_tail = &queue_head;
static size_t num_threads, num_starting, num_idle, num_pending;
static _Atomic size_t in_flight; /* queued or being resolved */

static void *resolver_main(void *unused)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP, .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV};
    struct resolve_request *req;

    pthread_mutex_lock(&mutex);
    --num_starting;
    for (;;) {
        while (queue_head == NULL) {
            ++num_idle;
            pthread_cond_wait(&cond, &mutex);
            --num_idle;
        }
        req = queue_head;
        if ((queue_head = req->next) == NULL)
            queue_tail = &queue_head;
        --num_pending;
        pthread_mutex_unlock(&mutex);
        req->error = getaddrinfo(req->host, req->serv, &hints, &req->res);
        atomic_fetch_sub(&in_flight, 1);
        h2o_multithread_send_message(&req->actx->resolved, &req->message);
        pthread_mutex_lock(&mutex);
    }
    return NULL;
}

/* on_answers: the answers for this loop; each callback runs, then its addresses and request are freed. */
static void on_answers(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        struct resolve_request *req = H2O_STRUCT_FROM_MEMBER(struct resolve_request, message.link, messages->next);
        h2o_linklist_unlink(&req->message.link);
        req->cb(req->data, req->error != 0 ? gai_strerror(req->error) : NULL, req->res);
        if (req->res != NULL)
            freeaddrinfo(req->res);
        free(req);
    }
}

/* start_thread: one more resolver thread, detached, with a small stack (getaddrinfo is all it runs). mutex held. */
static void start_thread(void)
{
    pthread_attr_t attr;
    pthread_t tid;
    int err;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if ((err = pthread_create(&tid, &attr, resolver_main, NULL)) != 0) {
        fprintf(stderr, "avatar resolver: pthread_create: %s\n", strerror(err));
        abort();
    }
    pthread_attr_destroy(&attr);
    ++num_threads;
    ++num_starting;
}

int avatar_resolve(avatar_context_t *actx, const char *host, uint16_t port, avatar_resolve_cb cb, void *data)
{
    size_t host_len = strlen(host);
    struct resolve_request *req;

    if (atomic_fetch_add(&in_flight, 1) >= AVATAR_RESOLVER_THREADS) {
        atomic_fetch_sub(&in_flight, 1);
        return -1;
    }
    if (!actx->resolved_registered) { /* on the loop's thread, the first time it resolves */
        h2o_multithread_register_receiver(actx->ctx->queue, &actx->resolved, on_answers);
        actx->resolved_registered = 1;
    }
    req = h2o_mem_alloc(offsetof(struct resolve_request, host) + host_len + 1);
    *req = (struct resolve_request){.actx = actx, .cb = cb, .data = data};
    snprintf(req->serv, sizeof(req->serv), "%u", (unsigned)port);
    memcpy(req->host, host, host_len + 1);
    pthread_mutex_lock(&mutex);
    *queue_tail = req;
    queue_tail = &req->next;
    if (++num_pending > num_idle + num_starting && num_threads < AVATAR_RESOLVER_THREADS)
        start_thread();
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
    return 0;
}

size_t avatar_resolve_in_flight(void)
{
    return atomic_load(&in_flight);
}
