/* trace.h: what one request's upstream work carries along: the request's id, so every log line about that work names
 * it, and where the request's time went (Postgres, Redis, the picture's server, the avatar workers), for the access log.
 * Work may outlive its request (a cache fill), so a trace is copied by value wherever it has to survive. */
#ifndef BOOKA_HTTP_TRACE_H
#define BOOKA_HTTP_TRACE_H

#include <stdint.h>
#include "h2o.h"

#define BOOKA_REQUEST_ID_MAX 128 /* longest request id accepted from a client (and X-Request-Id's limit) */

typedef struct booka_trace {
    char request_id[BOOKA_REQUEST_ID_MAX + 1]; /* "" for work no request waits for (a background refresh, prewarming) */
    uint64_t db_us;                            /* waiting for Postgres: pool queue and query, submit to answer */
    uint64_t redis_us;                         /* waiting for Redis commands, send to reply (or to their deadline) */
    uint64_t fetch_us;                         /* fetching an avatar source from its http(s) server */
    uint64_t avatar_queue_us;                  /* avatar render jobs waiting for a worker thread */
    uint64_t avatar_render_us;                 /* avatar render jobs running (decode, resize, encode) */
} booka_trace_t;

/* booka_clock_us: a monotonic clock in microseconds (CLOCK_MONOTONIC; no system call through the vDSO). */
uint64_t booka_clock_us(void);

/* booka_trace_init: an empty trace for the request of `request_id` (copied, at most BOOKA_REQUEST_ID_MAX bytes; see
 * booka_http_request_id), or, when it is empty, for work no request waits for. */
void booka_trace_init(booka_trace_t *trace, h2o_iovec_t request_id);

/* booka_trace_add_times: adds every time of `from` to `to` (the request id of `to` is kept). */
void booka_trace_add_times(booka_trace_t *to, const booka_trace_t *from);

/* booka_trace_export: the times that are not zero become request environment variables, in seconds with microsecond
 * precision like H2O's own %{duration}x, for the access log's %{NAME}e: booka-db-time, booka-redis-time,
 * booka-fetch-time, booka-avatar-queue-time, booka-avatar-render-time. A time that is zero is left unset (logged "-"). */
void booka_trace_export(h2o_req_t *req, const booka_trace_t *trace);

#endif
