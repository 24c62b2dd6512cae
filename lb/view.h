/* A view: one config snapshot joined with the live objects it names (servers, frontend
 * counters, listening sockets). Immutable once published; a reload or a runtime change makes a
 * new view and hands it to every worker. Connections keep the view they were accepted under, so
 * a swap never disturbs them. Built and freed on the main thread (runtime.c); workers only read
 * it and give back references. */
#ifndef K3LB_LB_VIEW_H
#define K3LB_LB_VIEW_H

#include "lb/balance.h"
#include "config/config-t.h"

#include <stdatomic.h>

/* Listening sockets of one address: one per worker (SO_REUSEPORT). Main thread only. */
struct lb_listen {
    int refs;             /* views using it, plus the registry */
    struct net_addr addr; /* the address, identity across reloads */
    int *fds;             /* one per worker */
    size_t n_fds;         /* number of workers */
};

/* A frontend's counters, kept across reloads by name. */
struct lb_front {
    int refs;                       /* views using it (main thread) */
    char *name;                     /* frontend name */
    atomic_uint_fast64_t active;    /* open client connections */
    atomic_uint_fast64_t total;     /* accepted client connections */
    atomic_uint_fast64_t no_server; /* connections closed because no server accepted */
};

struct lb_view_front {
    const struct config_frontend *cfg; /* in the view's snapshot */
    struct lb_front *front;            /* counters */
    struct lb_listen **listen;         /* one per cfg->listen entry */
    size_t n_listen;
    size_t pool; /* index into pools */
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

struct lb_view *lb_view_ref(struct lb_view *v);
/* Drops a reference; true when it was the last and the caller must see that the view gets to
 * lb_view_free on the main thread. */
bool lb_view_unref(struct lb_view *v);
/* Main thread. */
void lb_view_free(struct lb_view *v);

void lb_listen_unref(struct lb_listen *l);
void lb_front_unref(struct lb_front *f);

#endif
