/* answer.h: what HTTP answer a database status is: the one edge policy (status, reason phrase, JSON message,
 * Retry-After) every handler that reads Postgres follows, so a full queue or a lost database reads the same on every
 * endpoint.
 *
 * It lives in plugin/db rather than plugin/http because db already depends on http (db.h includes http/trace.h, and the
 * pool logs through booka_log): an http function that took booka_db_status_t would make the two modules depend on each
 * other. http stays neutral (it sends a status, a message and a Retry-After it is given); this file is the one place
 * that maps a db status onto those. */
#ifndef BOOKA_DB_ANSWER_H
#define BOOKA_DB_ANSWER_H

#include "db/db.h"

typedef struct booka_db_answer {
    int status;           /* 200 for BOOKA_DB_OK; else 503, 504 or 500 */
    const char *reason;   /* the status's reason phrase */
    const char *message;  /* what the JSON body's "detail" says (NULL for BOOKA_DB_OK) */
    h2o_iovec_t body;     /* {"detail": "<message>"} (static; empty for BOOKA_DB_OK) */
    unsigned retry_after; /* seconds for Retry-After: booka_db_retry_after for a 503, else 0 (no header) */
} booka_db_answer_t;

/* booka_db_answer: the answer to a request whose query ended with `status` on ctx's thread:
 *   QUEUE_FULL  503 "the server is busy, try again"        Retry-After: booka_db_retry_after (1 while Postgres is up)
 *   UNAVAILABLE 503 "the database is unavailable"          Retry-After: booka_db_retry_after (the next connection try)
 *   TIMEOUT     504 "the database did not answer in time"
 *   QUERY_ERROR 500 "Internal Server Error" */
booka_db_answer_t booka_db_answer(h2o_context_t *ctx, booka_db_status_t status);

/* booka_db_send_answer: sends booka_db_answer's JSON error for a status other than BOOKA_DB_OK, with its Retry-After. */
void booka_db_send_answer(h2o_req_t *req, booka_db_status_t status);

/* booka_db_send_error_body: a non-200 response kept as (status, JSON body) by a cache or a fill, sent again: Cache-Control:
 * no-store, the status's reason phrase (booka_http_reason), and for a 503 a Retry-After: booka_db_retry_after when the
 * body is the database's "unavailable" answer (the next connection try), else 1 (a busy moment: a full wait queue, the
 * avatar's workers, fetches or memory budget). */
void booka_db_send_error_body(h2o_req_t *req, int status, h2o_iovec_t body);

#endif
