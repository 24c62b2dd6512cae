/* Agent mode's config transform (see agent.c). Internal to config/. */
#ifndef K3LB_CONFIG_AGENT_H
#define K3LB_CONFIG_AGENT_H

#include "config/config-t.h"
#include "config/node.h"

bool config_agent_transform(struct config_node *root, const struct config_agent_defaults *d,
                            struct config_errors *errs);

#endif
