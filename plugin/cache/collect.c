/* collect.c: the cache's counters for /metrics. */
#include "cache/tiered.h"
#include "metrics/metrics.h"

void booka_cache_collect_metrics(booka_buf_t *out)
{
    static const struct {
        const char *name, *help;
        size_t offset;
    } counters[] = {
        {"booka_cache_hits_total", "Answers from a cache tier, or from another request's fill.",
         offsetof(booka_cache_stats_t, hits)},
        {"booka_cache_misses_total", "Answers built for the request.", offsetof(booka_cache_stats_t, misses)},
        {"booka_cache_stale_total", "Stale answers (while refreshing, or instead of an error).",
         offsetof(booka_cache_stats_t, stale)},
        {"booka_cache_coalesced_total", "Requests that waited for another request's or instance's fill (single-flight).",
         offsetof(booka_cache_stats_t, coalesced)},
        {"booka_cache_redis_hits_total", "Lookups answered by Redis after an in-process miss.",
         offsetof(booka_cache_stats_t, redis_hits)},
        {"booka_cache_fills_total", "Fills started (database work).", offsetof(booka_cache_stats_t, fills)},
        {"booka_cache_fill_errors_total", "Fills that ended in an error response.", offsetof(booka_cache_stats_t, fill_errors)},
        {"booka_cache_refreshes_total", "Background refreshes of stale entries.", offsetof(booka_cache_stats_t, refreshes)},
    };
    size_t flights, waiting;

    for (size_t i = 0; i != sizeof(counters) / sizeof(counters[0]); ++i) {
        _Atomic uint64_t *v = (_Atomic uint64_t *)((char *)&booka_cache_stats + counters[i].offset);
        booka_metrics_write_header(out, counters[i].name, "counter", counters[i].help);
        booka_metrics_write_sample(out, counters[i].name, "", (double)atomic_load(v));
    }
    booka_flight_counts(&flights, &waiting);
    booka_metrics_write_header(out, "booka_cache_flights", "gauge", "Fills in flight in this process (single-flight leaders).");
    booka_metrics_write_sample(out, "booka_cache_flights", "", (double)flights);
    booka_metrics_write_header(out, "booka_cache_flight_waiters", "gauge",
                               "Requests waiting now for another request's fill of the same key (single-flight followers).");
    booka_metrics_write_sample(out, "booka_cache_flight_waiters", "", (double)waiting);
}
