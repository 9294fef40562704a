/* cancel.c: the one worker thread that sends cancel requests. PQcancel opens a new connection to the server and waits
 * for it, so it must never run on an event loop; closing the connection instead would leave the statement running on
 * the server until statement_timeout (Postgres notices a vanished client only when it next writes to it), and would
 * throw away a warm connection with its prepared statements. */
#include <pthread.h>
#include <stdlib.h>
#include "db/internal.h"
#include "http/http.h"

#define CANCEL_QUEUE_MAX 64 /* beyond this the server is not answering cancels; the cancel grace replaces connections */

struct cancel_request {
    db_cancel_reply_t reply; /* first: the receiver frees the request through it */
    struct cancel_request *next;
    PGcancel *cancel;
    h2o_multithread_receiver_t *receiver;
};

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct cancel_request *head, **tail = &head;
static size_t queued;
static int started;

static void *cancel_worker(void *arg)
{
    for (;;) {
        struct cancel_request *r;
        char err[256];

        pthread_mutex_lock(&mutex);
        while (head == NULL)
            pthread_cond_wait(&cond, &mutex);
        r = head;
        if ((head = r->next) == NULL)
            tail = &head;
        --queued;
        pthread_mutex_unlock(&mutex);

        if (!PQcancel(r->cancel, err, sizeof(err)))
            booka_log(NULL, "db", "cancel request failed: %s", err);
        PQfreeCancel(r->cancel);
        h2o_multithread_send_message(r->receiver, &r->reply.super);
    }
    return NULL;
}

/* start_worker: called with the mutex held. Returns 0, or -1 when the thread cannot be created. */
static int start_worker(void)
{
    pthread_t tid;
    pthread_attr_t attr;
    int ret;

    if (started)
        return 0;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    ret = pthread_create(&tid, &attr, cancel_worker, NULL);
    pthread_attr_destroy(&attr);
    if (ret != 0)
        return -1;
    started = 1;
    return 0;
}

void db_cancel_async(PGconn *pg, h2o_multithread_receiver_t *receiver, void *conn, uint64_t serial)
{
    struct cancel_request *r;
    PGcancel *cancel = PQgetCancel(pg); /* copies the address and keys: no I/O */

    if (cancel == NULL)
        return;
    r = h2o_mem_alloc(sizeof(*r));
    *r = (struct cancel_request){.reply = {.conn = conn, .serial = serial}, .cancel = cancel, .receiver = receiver};
    pthread_mutex_lock(&mutex);
    if (queued >= CANCEL_QUEUE_MAX || start_worker() != 0) {
        pthread_mutex_unlock(&mutex);
        booka_log(NULL, "db", "cancel request dropped (worker unavailable or backlog full)");
        PQfreeCancel(cancel);
        free(r);
        return;
    }
    *tail = r;
    tail = &r->next;
    ++queued;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
}
