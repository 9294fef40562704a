/* redis.h: Redis through hiredis's async API on each thread's h2o event loop: one connection per thread, resolved
 * without blocking, per-command deadlines, reconnect with backoff, and never a failed request because of Redis. */
#ifndef BOOKA_CACHE_REDIS_H
#define BOOKA_CACHE_REDIS_H

#include <hiredis/hiredis.h>
#include "h2o.h"
#include "http/json.h"
#include "http/trace.h"

typedef struct booka_redis_command booka_redis_command_t;

/* booka_redis_reply_cb: the reply, or NULL when Redis failed, disconnected or missed the command's deadline. The reply
 * is freed when the callback returns. Runs on the loop thread that issued the command, never inside
 * booka_redis_command. */
typedef void (*booka_redis_reply_cb)(void *data, redisReply *reply);

/* booka_redis_context_init: starts ctx's connection when Redis is configured (idempotent; call from on_context_init). */
void booka_redis_context_init(h2o_context_t *ctx);

/* booka_redis_is_configured: booka.redis or REDIS_URL names a server. */
int booka_redis_is_configured(void);

/* booka_redis_is_up: ctx's connection is established and answering in time. */
int booka_redis_is_up(h2o_context_t *ctx);

/* booka_redis_command: sends argv on ctx's connection. Returns NULL, and never calls back, when Redis is not configured
 * or not up: callers then go on without it. With a `trace`, the command's time (send to reply or deadline) is added to
 * trace->redis_us just before `cb` runs, and an error reply is logged with trace->request_id; the trace needs to live
 * only until then, or until booka_redis_cancel. */
booka_redis_command_t *booka_redis_command(h2o_context_t *ctx, int argc, const char **argv, const size_t *argv_len,
                                           booka_redis_reply_cb cb, void *data, booka_trace_t *trace);

/* booka_redis_cancel: the issuer no longer wants the reply; no callback follows. */
void booka_redis_cancel(booka_redis_command_t *command);

/* booka_redis_collect_metrics: connections up, command counters and the command latency histogram, process-wide, in
 * Prometheus text format (a booka_metrics_collector). */
void booka_redis_collect_metrics(booka_buf_t *out);

/* booka_redis_register_configurator: `booka.redis: URL` or `{url: URL, command-timeout: ms, connect-timeout: ms}`;
 * without it, REDIS_URL from the environment; without either, no Redis (the in-process tier alone). */
void booka_redis_register_configurator(h2o_globalconf_t *conf);

/* booka_redis_parse_url: redis://[user[:password]@]host[:port][/db] into its parts (malloc'd strings; port 6379 and db
 * 0 by default). Returns 0, or -1 with a static reason in *err. */
typedef struct booka_redis_url {
    char *host, *user, *password;
    int port, db;
} booka_redis_url_t;
int booka_redis_parse_url(const char *url, booka_redis_url_t *out, const char **err);
void booka_redis_url_dispose(booka_redis_url_t *url);

#endif
