/* health.h: /healthz (the process serves) and /readyz (its required dependencies answer), and the registry behind it. */
#ifndef BOOKA_HEALTH_H
#define BOOKA_HEALTH_H

#include "h2o.h"
#include "http/json.h"

/* booka_dependency_state_cb: whether the dependency answers right now, as seen from the calling loop thread. */
typedef int (*booka_dependency_state_cb)(h2o_context_t *ctx, void *data);

/* booka_health_add_dependency: /readyz reports `name` as "up" or "down"; a `required` one that is down makes it 503.
 * Added again under the same name (several handlers), the first callback stays and it is required if any call says so.
 * Call while the configuration is applied (not thread-safe). */
void booka_health_add_dependency(const char *name, int required, booka_dependency_state_cb is_up, void *data);

/* booka_health_detail_cb: appends one JSON value (a number, a string with its quotes, null). Any thread. */
typedef void (*booka_health_detail_cb)(booka_buf_t *out, void *data);

/* booka_health_add_detail: /readyz also carries `name` with the value `write` appends (after the dependencies); details
 * inform, they never change the status. Call while the configuration is applied (not thread-safe). */
void booka_health_add_detail(const char *name, booka_health_detail_cb write, void *data);

/* booka_health_add_context_init: `init` runs on every loop thread that serves /readyz, so the dependency it reports on
 * has a per-thread connection there even when no other handler started one. Idempotent per function. */
void booka_health_add_context_init(void (*init)(h2o_context_t *ctx));

/* booka_health_register_configurator: `booka.health: ON` (liveness) and `booka.readiness: ON` (readiness) on a path. */
void booka_health_register_configurator(h2o_globalconf_t *conf);

#endif
