/* handler.h: the list endpoint's h2o handler (shared by its configurator). */
#ifndef BOOKA_LIST_HANDLER_H
#define BOOKA_LIST_HANDLER_H

#include "cache/tiered.h"
#include "list/list.h"

typedef struct list_handler {
    h2o_handler_t super;
    h2o_iovec_t cache_control; /* of 200 responses */
    booka_cache_policy_t policy;
    booka_cache_store_t *store;      /* the process's list store, shared by every list path */
    H2O_VECTOR(h2o_iovec_t) prewarm; /* query strings filled once after start-up (booka.list's `prewarm`) */
} list_handler_t;

/* list_handler_register: installs the handler on `pathconf` with the shared response headers (it takes over the
 * malloc'd `cache_control`, to which the edge's stale-if-error is added), and declares the database as required. */
list_handler_t *list_handler_register(h2o_pathconf_t *pathconf, h2o_iovec_t cache_control, const booka_cache_policy_t *policy,
                                      size_t cache_bytes);

#endif
