/* The sticky manager: decides, on the main thread, which server of a sticky (agent) backend is
 * ACTIVE and what state every other one is in; workers then pick by those states without locks.
 *
 * Rules: the ACTIVE server stays while it is up (stickiness keeps an agent's tunnel, watches
 * and exec streams on one server). When it fails or leaves the list, the next is promoted:
 * PREFERRED (the previous ACTIVE, healthy again) before HEALTHY, in list order. The fixed
 * address (STANDBY, when the learned list lacks it) is only a last resort: as soon as a learned
 * server is healthy again while the fixed address is ACTIVE, traffic moves back and the fixed
 * address's connections are closed (fail-back). */
#ifndef K3LB_RUNTIME_STICKY_H
#define K3LB_RUNTIME_STICKY_H

#include "lb/balance.h"

/* What the manager remembers of one backend between updates. */
struct lb_sticky_memo {
    char active[NET_ADDRSTRLEN];   /* address of the ACTIVE server, "" if none */
    char previous[NET_ADDRSTRLEN]; /* address of the one before it */
};

/* Recomputes and publishes the states of pool's servers. Returns a server that must lose its
 * connections (the fixed address after a fail-back), or NULL. Logs every state change. */
struct lb_server *lb_sticky_update(const struct lb_pool *pool, struct lb_sticky_memo *memo);

#endif
