/* k3lb agent's own machinery on top of the balancer: the learned server list (from the K3s
 * supervisor, DNS, a static list or the admin API), the state file that lets a restart work
 * while the fixed address is down. Main thread. */
#ifndef K3LB_AGENT_AGENT_H
#define K3LB_AGENT_AGENT_H

#include "config/config-t.h"

#include <stddef.h>

struct event_base;
struct runtime;
struct agent;

/* Loads the state file (a bad one is reported and ignored) and starts the list sources. */
struct agent *agent_new(struct event_base *base, struct runtime *rt, struct config *cfg);
void agent_free(struct agent *a);

/* The admin API's PUT /servers: a list from an operator. 0, or -1 with a reason in err. */
int agent_put_servers(struct agent *a, const char *const *addresses, size_t n, char *err,
                      size_t errlen);

#endif
