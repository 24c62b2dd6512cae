/* The checks that span objects of a snapshot (config/validate.c): unique names, references
 * between frontends, routes and backends, requires, listen overlaps, announce, warnings. Called
 * once the whole file is applied and every object has passed its own checks (those sit beside
 * their key tables); the tables know nothing of these. */
#ifndef K3LB_CONFIG_VALIDATE_H
#define K3LB_CONFIG_VALIDATE_H

#include "config/config-t.h"
#include "config/node.h"

/* errs->in_object: the errors the root object's own keys had (a list that failed to parse is
 * not an empty one). */
void config_validate(struct config *c, struct config_errors *errs);

#endif
