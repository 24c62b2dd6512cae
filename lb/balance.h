/* Picking a server for a new connection.
 *
 * A pool is one backend's servers as one view sees them (immutable). Each worker keeps its own
 * balance_state per pool, so picking takes no lock; live inputs (up, drain, active counts) are
 * read from the servers' atomics. Backup servers are considered only when no normal server is
 * usable, and servers that are down only when nothing is up; servers already tried by this
 * connection are skipped. */
#ifndef K3LB_LB_BALANCE_H
#define K3LB_LB_BALANCE_H

#include "lb/balance-t.h"

#include "lb/server.h"

#include <stddef.h>
#include <stdint.h>

struct lb_quorum lb_pool_quorum(const struct lb_pool *pool);
/* Servers of the pool that take new connections now (lb_server_usable). */
size_t lb_pool_usable(const struct lb_pool *pool);

void balance_state_init(struct balance_state *st, size_t n, uint64_t seed);
void balance_state_free(struct balance_state *st);

/* Index of the server for a new connection, or -1 when none is usable. client_hash is only
 * used by source balancing. */
int balance_pick(const struct lb_pool *pool, struct balance_state *st, uint64_t client_hash,
                 const struct balance_tried *tried);

/* No server was picked because servers that could take the client are at their maxconn: it
 * may wait for a slot. */
bool balance_full(const struct lb_pool *pool, const struct balance_tried *tried);

bool balance_tried_has(const struct balance_tried *t, size_t i);
void balance_tried_add(struct balance_tried *t, size_t i);
void balance_tried_reset(struct balance_tried *t);

#endif
