/* mruby.h: `mruby.handler` and `mruby.handler-file`, H2O 2.2's Rack-style handler contract on Debian's libmruby 3.1. */
#ifndef BOOKA_MRUBY_H
#define BOOKA_MRUBY_H

#include "h2o.h"

/* booka_mruby_register_configurator: defines `mruby.handler` (inline code) and `mruby.handler-file` (a path relative to
 * the config file) at path level. Both compile the code once at config load and refuse a configuration whose code does
 * not compile, raises, or does not evaluate to something that responds to #call. */
void booka_mruby_register_configurator(h2o_globalconf_t *conf);

#endif
