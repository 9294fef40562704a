/* booka.h: the booka plugin's one entry point for any libh2o program. */
#ifndef BOOKA_H
#define BOOKA_H

#include "h2o.h"

/* booka_register_configurators: defines every booka.* (and mruby.*) directive on `conf`. The host calls it once,
 * after h2o_config_init and before h2o_configurator_apply; the plugin never assumes which program hosts it. */
void booka_register_configurators(h2o_globalconf_t *conf);

#endif
