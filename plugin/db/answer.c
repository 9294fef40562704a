/* answer.c: what HTTP answer a database status is (answer.h says why this is in plugin/db). */
#include <stdio.h>
#include "db/answer.h"
#include "http/http.h"

#define ANSWER(code, phrase, text)                                                                                                 \
    {                                                                                                                              \
        code, phrase, text, {(char *)"{\"detail\": \"" text "\"}", sizeof("{\"detail\": \"" text "\"}") - 1}, 0                    \
    }

booka_db_answer_t booka_db_answer(h2o_context_t *ctx, booka_db_status_t status)
{
    static const booka_db_answer_t ok = {200, "OK", NULL, {NULL, 0}, 0},
                                   busy = ANSWER(503, "Service Unavailable", "the server is busy, try again"),
                                   down = ANSWER(503, "Service Unavailable", "the database is unavailable"),
                                   late = ANSWER(504, "Gateway Timeout", "the database did not answer in time"),
                                   error = ANSWER(500, "Internal Server Error", "Internal Server Error");
    booka_db_answer_t a;

    switch (status) {
    case BOOKA_DB_OK:
        return ok;
    case BOOKA_DB_QUEUE_FULL:
        a = busy;
        break;
    case BOOKA_DB_UNAVAILABLE:
        a = down;
        break;
    case BOOKA_DB_TIMEOUT:
        return late;
    default:
        return error;
    }
    a.retry_after = booka_db_retry_after(ctx);
    return a;
}

static void set_retry_after(h2o_req_t *req, unsigned seconds)
{
    char *v = h2o_mem_alloc_pool(&req->pool, 16);
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, v, sprintf(v, "%u", seconds), 1);
}

void booka_db_send_answer(h2o_req_t *req, booka_db_status_t status)
{
    booka_db_answer_t a = booka_db_answer(req->conn->ctx, status);

    if (a.retry_after != 0)
        set_retry_after(req, a.retry_after);
    booka_http_send_error_message(req, a.status, a.reason, a.message);
}

void booka_db_send_error_body(h2o_req_t *req, int status, h2o_iovec_t body)
{
    static const booka_db_answer_t down = ANSWER(503, "Service Unavailable", "the database is unavailable");

    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("cache-control"), 0, H2O_STRLIT("no-store"), 1);
    /* the database's own 503 says when to come back (the next connection try); every other 503 is a busy moment of ours
     * (workers, fetches, memory): a second */
    if (status == 503)
        set_retry_after(req,
                        h2o_memis(body.base, body.len, down.body.base, down.body.len) ? booka_db_retry_after(req->conn->ctx) : 1);
    booka_http_send(req, status, booka_http_reason(status), "application/json", body);
}
