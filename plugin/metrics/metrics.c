/* metrics.c: the registry (atomics only on the request path) and the Prometheus text format (version 0.0.4). */
#include <stdio.h>
#include <string.h>
#include "http/http.h"
#include "metrics/metrics.h"

const double booka_histogram_bounds[BOOKA_HISTOGRAM_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};

struct route {
    char *path;
    _Atomic uint64_t by_status[600]; /* index: the status code (1xx..5xx) */
    booka_histogram_t latency;
};

static struct route routes[BOOKA_METRICS_MAX_ROUTES];
static size_t num_routes;
static H2O_VECTOR(booka_metrics_collector) collectors;

void booka_histogram_observe(booka_histogram_t *h, uint64_t us)
{
    size_t i = 0;
    while (i != BOOKA_HISTOGRAM_BUCKETS && (double)us > booka_histogram_bounds[i] * 1e6)
        ++i;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

uint64_t booka_histogram_observe_since(booka_histogram_t *h, uint64_t start_us)
{
    uint64_t now = booka_clock_us(), us = now > start_us ? now - start_us : 0;
    booka_histogram_observe(h, us);
    return us;
}

size_t booka_metrics_route(const char *path)
{
    for (size_t i = 0; i != num_routes; ++i)
        if (strcmp(routes[i].path, path) == 0)
            return i;
    if (num_routes == BOOKA_METRICS_MAX_ROUTES)
        return BOOKA_METRICS_MAX_ROUTES - 1;
    routes[num_routes].path = h2o_strdup(NULL, path, SIZE_MAX).base;
    return num_routes++;
}

void booka_metrics_record_request(size_t route, int status, uint64_t us)
{
    struct route *r = routes + (route < num_routes ? route : BOOKA_METRICS_MAX_ROUTES - 1);
    if (status >= 100 && status < 600)
        atomic_fetch_add_explicit(&r->by_status[status], 1, memory_order_relaxed);
    booka_histogram_observe(&r->latency, us);
}

void booka_metrics_add_collector(booka_metrics_collector collect)
{
    for (size_t i = 0; i != collectors.size; ++i)
        if (collectors.entries[i] == collect)
            return;
    h2o_vector_reserve(NULL, &collectors, collectors.size + 1);
    collectors.entries[collectors.size++] = collect;
}

void booka_metrics_write_header(booka_buf_t *out, const char *name, const char *type, const char *help)
{
    booka_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void booka_metrics_write_sample(booka_buf_t *out, const char *name, const char *labels, double value)
{
    if (labels[0] != '\0')
        booka_buf_appendf(out, "%s{%s} %.17g\n", name, labels, value);
    else
        booka_buf_appendf(out, "%s %.17g\n", name, value);
}

void booka_metrics_write_histogram(booka_buf_t *out, const char *name, const char *labels, const booka_histogram_t *h)
{
    const char *sep = labels[0] != '\0' ? "," : "";
    uint64_t cumulative = 0;

    for (size_t i = 0; i != BOOKA_HISTOGRAM_BUCKETS; ++i) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        booka_buf_appendf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, booka_histogram_bounds[i],
                          (unsigned long long)cumulative);
    }
    cumulative += atomic_load_explicit(&h->buckets[BOOKA_HISTOGRAM_BUCKETS], memory_order_relaxed);
    booka_buf_appendf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cumulative);
    booka_buf_appendf(out, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                      atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
    /* the count is the +Inf bucket, so the two can never disagree on a concurrent read */
    booka_buf_appendf(out, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                      (unsigned long long)cumulative);
}

/* route_label: route="<path>" with the label value escaped as the text format requires. */
static void route_label(char *out, size_t size, const char *path)
{
    size_t n = snprintf(out, size, "route=\"");
    for (const char *p = path; *p != '\0' && n + 4 < size; ++p) {
        if (*p == '"' || *p == '\\')
            out[n++] = '\\';
        if (*p == '\n') {
            out[n++] = '\\', out[n++] = 'n';
            continue;
        }
        out[n++] = *p;
    }
    out[n++] = '"';
    out[n] = '\0';
}

void booka_metrics_render(booka_buf_t *out)
{
    char label[600], labels[700];

    booka_metrics_write_header(out, "booka_http_requests_total", "counter",
                               "Responses sent, by route (configured path) and status.");
    for (size_t r = 0; r != num_routes; ++r) {
        route_label(label, sizeof(label), routes[r].path);
        for (int status = 100; status != 600; ++status) {
            uint64_t n = atomic_load_explicit(&routes[r].by_status[status], memory_order_relaxed);
            if (n == 0)
                continue;
            snprintf(labels, sizeof(labels), "%s,status=\"%d\"", label, status);
            booka_metrics_write_sample(out, "booka_http_requests_total", labels, (double)n);
        }
    }
    booka_metrics_write_header(out, "booka_http_request_duration_seconds", "histogram",
                               "Time from the request's arrival to the end of its response, by route.");
    for (size_t r = 0; r != num_routes; ++r) {
        route_label(label, sizeof(label), routes[r].path);
        booka_metrics_write_histogram(out, "booka_http_request_duration_seconds", label, &routes[r].latency);
    }
    for (size_t i = 0; i != collectors.size; ++i)
        collectors.entries[i](out);
}

/* the logger that feeds the request metrics */
struct route_logger {
    h2o_logger_t super;
    size_t route;
};

static uint64_t elapsed_us(const struct timeval *from, const struct timeval *to)
{
    int64_t us = (int64_t)(to->tv_sec - from->tv_sec) * 1000000 + (to->tv_usec - from->tv_usec);
    return us > 0 ? (uint64_t)us : 0;
}

static void on_log_access(h2o_logger_t *_self, h2o_req_t *req)
{
    struct route_logger *self = (void *)_self;
    const struct timeval *end = req->timestamps.response_end_at.tv_sec != 0 ? &req->timestamps.response_end_at : NULL;
    struct timeval now;

    if (end == NULL) {
        gettimeofday(&now, NULL);
        end = &now;
    }
    booka_metrics_record_request(self->route, req->res.status, elapsed_us(&req->timestamps.request_begin_at, end));
}

void booka_metrics_attach(h2o_pathconf_t *pathconf)
{
    struct route_logger *logger;
    for (size_t i = 0; i != pathconf->loggers.size; ++i)
        if (pathconf->loggers.entries[i]->log_access == on_log_access)
            return;
    logger = (void *)h2o_create_logger(pathconf, sizeof(*logger));
    logger->super.log_access = on_log_access;
    logger->route = booka_metrics_route(pathconf->path.base != NULL ? pathconf->path.base : "/");
}

static int on_metrics(h2o_handler_t *self, h2o_req_t *req)
{
    booka_buf_t body = {NULL};

    if (booka_http_answer_preflight(req))
        return 0;
    booka_metrics_render(&body);
    booka_buf_or_abort(&body); /* its size is the configuration's (the series): memory running out aborts (http/json.h) */
    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("cache-control"), 0, H2O_STRLIT("no-store"), 1);
    booka_http_send(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", h2o_strdup(&req->pool, body.base, body.len));
    booka_buf_free(&body);
    return 0;
}

static int on_config_metrics(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    ssize_t on = h2o_configurator_get_one_of(cmd, node, "OFF,ON");
    if (on == -1)
        return -1;
    if (on) {
        h2o_create_handler(ctx->pathconf, sizeof(h2o_handler_t))->on_req = on_metrics;
        booka_http_attach(ctx->pathconf);
    }
    return 0;
}

void booka_metrics_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    h2o_configurator_define_command(
        c, "booka.metrics", H2O_CONFIGURATOR_FLAG_PATH | H2O_CONFIGURATOR_FLAG_DEFERRED | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR,
        on_config_metrics);
    booka_http_on_attach(booka_metrics_attach);
}
