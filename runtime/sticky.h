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

#include <stdbool.h>
#include <stdint.h>

/* What the manager remembers of one backend between updates. */
struct runtime_sticky_memo {
    char active[NET_ADDRSTRLEN];   /* address of the ACTIVE server, "" if none */
    char previous[NET_ADDRSTRLEN]; /* address of the one before it */
};

/* Recomputes and publishes the states of pool's servers (now_ms: the monotonic clock). Returns
 * true when a new ACTIVE server was chosen: the caller then closes the connections still on
 * every other server (consolidation, as K3s's agent balancer does; this is also the fail-back
 * from the fixed address). Logs every state change. */
bool runtime_sticky_update(const struct lb_pool *pool, struct runtime_sticky_memo *memo,
                           uint64_t now_ms);

#endif
