/* Types of view.h (see there). */
#ifndef K3LB_LB_VIEW_T_H
#define K3LB_LB_VIEW_T_H

#include "lb/balance-t.h"
#include "config/config-t.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Listening sockets of one address: one per worker (SO_REUSEPORT). Main thread only. */
struct lb_listen {
    int refs;             /* views using it, plus the registry */
    struct net_addr addr; /* the address, identity across reloads */
    int *fds;             /* one per worker */
    size_t n_fds;         /* number of workers */
};

struct lb_srctab;

/* A frontend's counters, kept across reloads by name. */
struct lb_front {
    int refs;                           /* views using it (main thread) */
    char *name;                         /* frontend name */
    atomic_uint_fast64_t active;        /* open client connections */
    atomic_uint_fast64_t total;         /* accepted client connections */
    atomic_uint_fast64_t no_server;     /* connections closed because no server accepted */
    atomic_uint_fast64_t denied;        /* clients refused by the frontend's allow / deny lists */
    atomic_uint_fast64_t bad_header;    /* accept_proxy: clients closed for a bad or late header */
    atomic_uint_fast64_t unrouted;      /* routes: clients no route took, sent to the default */
    atomic_uint_fast64_t no_route;      /* routes: clients no route took, closed (no default) */
    atomic_uint_fast64_t limited_conns; /* reset: the source had source_max_conns open */
    atomic_uint_fast64_t limited_rate;  /* reset: the source was over source_max_rate */
    struct lb_srctab *_Atomic src;      /* source limits' table (made once, kept); or NULL */
};

struct lb_view_front {
    const struct config_frontend *cfg; /* in the view's snapshot */
    struct lb_front *front;            /* counters */
    struct lb_listen **listen;         /* one per cfg->listen entry */
    size_t n_listen;
    size_t pool; /* index into pools: the default backend's; n_pools when it has none */
};

struct lb_view {
    atomic_int refs;     /* the runtime, workers, and nothing else */
    struct config *cfg;  /* the snapshot (a reference) */
    uint64_t generation; /* increases with every new view */
    struct lb_view_front *fronts;
    size_t n_fronts;
    struct lb_pool *pools; /* one per backend, same order as cfg->backends */
    size_t n_pools;
};

#endif
