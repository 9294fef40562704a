/* trace.c: request traces: the id copy, the clock, and the access log's environment variables. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "http/trace.h"

uint64_t booka_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void booka_trace_init(booka_trace_t *trace, h2o_iovec_t request_id)
{
    size_t len = request_id.len < BOOKA_REQUEST_ID_MAX ? request_id.len : BOOKA_REQUEST_ID_MAX;

    *trace = (booka_trace_t){{0}};
    if (len != 0)
        memcpy(trace->request_id, request_id.base, len);
}

/* The times a trace holds, with their environment variable names; one table serves adding and exporting. */
static const struct {
    const char *env_name;
    size_t offset;
} times[] = {
    {"booka-db-time", offsetof(booka_trace_t, db_us)},
    {"booka-redis-time", offsetof(booka_trace_t, redis_us)},
    {"booka-fetch-time", offsetof(booka_trace_t, fetch_us)},
    {"booka-avatar-queue-time", offsetof(booka_trace_t, avatar_queue_us)},
    {"booka-avatar-render-time", offsetof(booka_trace_t, avatar_render_us)},
};

static uint64_t time_of(const booka_trace_t *trace, size_t i)
{
    return *(const uint64_t *)((const char *)trace + times[i].offset);
}

void booka_trace_add_times(booka_trace_t *to, const booka_trace_t *from)
{
    for (size_t i = 0; i != sizeof(times) / sizeof(times[0]); ++i)
        *(uint64_t *)((char *)to + times[i].offset) += time_of(from, i);
}

void booka_trace_export(h2o_req_t *req, const booka_trace_t *trace)
{
    for (size_t i = 0; i != sizeof(times) / sizeof(times[0]); ++i) {
        uint64_t us = time_of(trace, i);
        char *value;
        if (us == 0)
            continue;
        value = h2o_mem_alloc_pool(&req->pool, 32);
        *h2o_req_getenv(req, times[i].env_name, strlen(times[i].env_name), 1) =
            h2o_iovec_init(value, (size_t)snprintf(value, 32, "%llu.%06llu", (unsigned long long)(us / 1000000),
                                                   (unsigned long long)(us % 1000000)));
    }
}
