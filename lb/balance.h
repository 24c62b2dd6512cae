/* Picking a server for a new connection.
 *
 * A pool is one backend's servers as one view sees them (immutable). Each worker keeps its own
 * balance_state per pool, so picking takes no lock; live inputs (up, drain, active counts) are
 * read from the servers' atomics. Backup servers are considered only when no normal server is
 * usable, and servers that are down only when nothing is up; servers already tried by this
 * connection are skipped. */
#ifndef K3LB_LB_BALANCE_H
#define K3LB_LB_BALANCE_H

#include "config/config-t.h"
#include "lb/server.h"

#include <stddef.h>
#include <stdint.h>

struct lb_pool {
    const struct config_backend *cfg; /* the backend's settings (in the view's snapshot) */
    enum config_balance balance;      /* algorithm */
    size_t n;                         /* number of servers */
    struct lb_server **srv;           /* servers in config order; the pool holds a reference */
};

/* A worker's memory of past picks from one pool. */
struct balance_state {
    size_t n;         /* servers in the pool it was made for */
    int64_t *current; /* smooth round-robin: current weight per server */
    size_t turn;      /* rotating start, so that ties spread */
    uint64_t rng;     /* xorshift state for random */
};

/* Servers a connection has already tried. */
struct balance_tried {
    uint64_t small; /* servers 0..63 */
    uint64_t *more; /* servers 64.., allocated on first use */
    size_t n_more;  /* words in more */
};

/* Quorum of an etcd pool: members, how many are up, how many make a majority. */
struct lb_quorum {
    size_t members;
    size_t healthy;
    size_t majority;
};
struct lb_quorum lb_pool_quorum(const struct lb_pool *pool);

void balance_state_init(struct balance_state *st, size_t n, uint64_t seed);
void balance_state_free(struct balance_state *st);

/* Index of the server for a new connection, or -1 when none is usable. client_hash is only
 * used by source balancing. */
int balance_pick(const struct lb_pool *pool, struct balance_state *st, uint64_t client_hash,
                 const struct balance_tried *tried);

bool balance_tried_has(const struct balance_tried *t, size_t i);
void balance_tried_add(struct balance_tried *t, size_t i);
void balance_tried_reset(struct balance_tried *t);

#endif
