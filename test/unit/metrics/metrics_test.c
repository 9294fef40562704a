/* metrics_test.c: histograms bucket correctly and the exposition is in the Prometheus text format. */
#include "unit.h"
#include "metrics/metrics.h"

static void collect_extra(booka_buf_t *out)
{
    booka_metrics_write_header(out, "booka_test_total", "counter", "A test counter.");
    booka_metrics_write_sample(out, "booka_test_total", "kind=\"x\"", 7);
}

int main(void)
{
    booka_histogram_t h = {0};
    booka_buf_t out = {NULL};
    size_t api = booka_metrics_route("/api/v1/x/"), health = booka_metrics_route("/healthz");

    CHECK(booka_metrics_route("/api/v1/x/") == api);
    CHECK(api != health);
    booka_histogram_observe(&h, 50);       /* 50 us: the first bucket (100 us) */
    booka_histogram_observe(&h, 500);      /* exactly 0.5 ms: the 0.5 ms bucket (le is inclusive) */
    booka_histogram_observe(&h, 1000);     /* exactly 1 ms: the 1 ms bucket */
    booka_histogram_observe(&h, 7000);     /* 7 ms: the 10 ms bucket */
    booka_histogram_observe(&h, 60000000); /* 60 s: +Inf */
    CHECK_INT_EQ(atomic_load(&h.buckets[0]), 1);
    CHECK_INT_EQ(atomic_load(&h.buckets[1]), 0);
    CHECK_INT_EQ(atomic_load(&h.buckets[2]), 1);
    CHECK_INT_EQ(atomic_load(&h.buckets[3]), 1);
    CHECK_INT_EQ(atomic_load(&h.buckets[6]), 1);
    CHECK_INT_EQ(atomic_load(&h.buckets[BOOKA_HISTOGRAM_BUCKETS]), 1);
    CHECK_INT_EQ(atomic_load(&h.count), 5);

    booka_metrics_record_request(api, 200, 2000);
    booka_metrics_record_request(api, 200, 3000);
    booka_metrics_record_request(api, 422, 100);
    booka_metrics_add_collector(collect_extra);
    booka_metrics_render(&out);
    booka_buf_append(&out, "", 1);
    CHECK(strstr(out.base, "# TYPE booka_http_requests_total counter\n") != NULL);
    CHECK(strstr(out.base, "booka_http_requests_total{route=\"/api/v1/x/\",status=\"200\"} 2\n") != NULL);
    CHECK(strstr(out.base, "booka_http_requests_total{route=\"/api/v1/x/\",status=\"422\"} 1\n") != NULL);
    CHECK(strstr(out.base, "route=\"/healthz\",status") == NULL); /* no samples for statuses never seen */
    CHECK(strstr(out.base, "booka_http_request_duration_seconds_bucket{route=\"/api/v1/x/\",le=\"0.001\"} 1\n") != NULL);
    CHECK(strstr(out.base, "booka_http_request_duration_seconds_bucket{route=\"/api/v1/x/\",le=\"0.0025\"} 2\n") != NULL);
    CHECK(strstr(out.base, "booka_http_request_duration_seconds_bucket{route=\"/api/v1/x/\",le=\"+Inf\"} 3\n") != NULL);
    CHECK(strstr(out.base, "booka_http_request_duration_seconds_count{route=\"/api/v1/x/\"} 3\n") != NULL);
    CHECK(strstr(out.base, "booka_http_request_duration_seconds_sum{route=\"/api/v1/x/\"} 0.005100\n") != NULL);
    CHECK(strstr(out.base, "booka_test_total{kind=\"x\"} 7\n") != NULL);
    booka_buf_free(&out);
    return unit_report("metrics");
}
