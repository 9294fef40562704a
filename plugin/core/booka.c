/* booka.c: registers each module's configurator; the list of what the plugin provides. */
#include "core/booka.h"
#include "avatar/avatar.h"
#include "cache/redis.h"
#include "cache/tiered.h"
#include "db/db.h"
#include "edge/edge.h"
#include "health/health.h"
#include "http/http.h"
#include "list/list.h"
#include "metrics/metrics.h"
#include "mruby/mruby.h"

void booka_register_configurators(h2o_globalconf_t *conf)
{
    booka_http_register_configurator(conf);
    booka_metrics_register_configurator(conf);
    booka_health_register_configurator(conf);
    booka_redis_register_configurator(conf);
    booka_db_register_configurator(conf);
    booka_edge_register_configurator(conf);
    booka_list_register_configurator(conf);
    booka_mruby_register_configurator(conf);
    booka_avatar_register_configurator(conf);
    booka_metrics_add_collector(booka_cache_collect_metrics);
    booka_metrics_add_collector(booka_redis_collect_metrics);
    booka_metrics_add_collector(booka_db_collect_metrics);
    booka_metrics_add_collector(booka_edge_collect_metrics);
}
