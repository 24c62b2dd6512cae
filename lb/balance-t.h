/* Types of balance.h (see there). */
#ifndef K3LB_LB_BALANCE_T_H
#define K3LB_LB_BALANCE_T_H

#include "config/config-t.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct lb_server;
struct lb_conn;

/* The clients waiting for a slot on one backend's servers (of one view), oldest first, across
 * workers: the lock orders them; each one's own worker takes it out. */
struct lb_queue {
    pthread_mutex_t lock;
    struct lb_conn *head, *tail;   /* under lock */
    atomic_size_t n;               /* waiting now (read without the lock) */
    atomic_uint_fast64_t total;    /* clients that ever waited */
    atomic_uint_fast64_t timeouts; /* closed after queue_timeout */
    atomic_uint_fast64_t full;     /* closed at once: max_queue were waiting */
};

struct lb_pool {
    const struct config_backend *cfg; /* the backend's settings (in the view's snapshot) */
    enum config_balance balance;      /* algorithm */
    size_t n;                         /* number of servers */
    struct lb_server **srv;           /* servers in config order; the pool holds a reference */
    struct lb_queue *queue;           /* clients waiting for a slot (maxconn); owned */
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
