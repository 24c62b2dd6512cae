/* Types of balance.h (see there). */
#ifndef K3LB_LB_BALANCE_T_H
#define K3LB_LB_BALANCE_T_H

#include "config/config-t.h"

#include <stddef.h>
#include <stdint.h>

struct lb_server;

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

#endif
