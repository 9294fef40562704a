/* metrics.h: process-wide counters and histograms, and their Prometheus text exposition at `booka.metrics: ON`. */
#ifndef BOOKA_METRICS_H
#define BOOKA_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include "h2o.h"
#include "http/json.h"

#define BOOKA_HISTOGRAM_BUCKETS 17

/* booka_histogram_t: a latency histogram in seconds with fixed buckets (100 us .. 30 s: a Redis GET and an in-process
 * hit take well under a millisecond); lock-free, any thread. */
typedef struct booka_histogram {
    _Atomic uint64_t buckets[BOOKA_HISTOGRAM_BUCKETS + 1]; /* the last is +Inf */
    _Atomic uint64_t sum_us, count;
} booka_histogram_t;

extern const double booka_histogram_bounds[BOOKA_HISTOGRAM_BUCKETS];

/* booka_histogram_observe: records one duration in microseconds. */
void booka_histogram_observe(booka_histogram_t *h, uint64_t us);

/* booka_histogram_observe_since: records the time since `start_us` (booka_clock_us) and returns it. */
uint64_t booka_histogram_observe_since(booka_histogram_t *h, uint64_t start_us);

/* booka_metrics_route: the index of the route named `path` (a configured path), created on first use; call while the
 * configuration is applied. At most BOOKA_METRICS_MAX_ROUTES routes; later ones share the last index. */
#define BOOKA_METRICS_MAX_ROUTES 32
size_t booka_metrics_route(const char *path);

/* booka_metrics_record_request: counts a response of `route` with `status`, taking `us` microseconds. */
void booka_metrics_record_request(size_t route, int status, uint64_t us);

/* booka_metrics_collector: appends text exposition lines; modules with their own counters register one at config time. */
typedef void (*booka_metrics_collector)(booka_buf_t *out);
void booka_metrics_add_collector(booka_metrics_collector collect);

/* booka_metrics_write_counter / _gauge / _histogram: one metric family with HELP and TYPE, for collectors. `labels` is
 * "" or `name="value",...` (already escaped). */
void booka_metrics_write_header(booka_buf_t *out, const char *name, const char *type, const char *help);
void booka_metrics_write_sample(booka_buf_t *out, const char *name, const char *labels, double value);
void booka_metrics_write_histogram(booka_buf_t *out, const char *name, const char *labels, const booka_histogram_t *h);

/* booka_metrics_render: the whole exposition. */
void booka_metrics_render(booka_buf_t *out);

/* booka_metrics_attach: records every response of `pathconf` (route label: its path). Idempotent. */
void booka_metrics_attach(h2o_pathconf_t *pathconf);

/* booka_metrics_register_configurator: `booka.metrics: ON` on a path serves the exposition there. */
void booka_metrics_register_configurator(h2o_globalconf_t *conf);

#endif
