/* Node tree + key table -> section structs. Internal to config/. */
#ifndef K3LB_CONFIG_APPLY_H
#define K3LB_CONFIG_APPLY_H

#include "config/keys.h"
#include "config/node.h"

/* Fills obj (zeroed, sec->size bytes) from map; false when errors were added. obj must be
 * released with config_release whatever the result. */
bool config_apply(const struct config_section *sec, void *obj, const struct config_node *map,
                  struct config_errors *errs);
/* Frees everything the applier allocated inside obj (not obj itself). */
void config_release(const struct config_section *sec, void *obj);

#endif
