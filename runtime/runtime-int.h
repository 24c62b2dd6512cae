/* Internals of the runtime shared by runtime.c (views, listeners, workers, life cycle) and
 * servers.c (server lists changed at run time), which sits on top of it. Internal to runtime/. */
#ifndef K3LB_RUNTIME_RUNTIME_INT_H
#define K3LB_RUNTIME_RUNTIME_INT_H

#include "common/mailbox.h"
#include "runtime/runtime.h"
#include "runtime/lists.h"
#include "runtime/sticky.h"
#include "lb/worker.h"

#include <event2/event.h>

struct runtime {
    struct event_base *base;    /* main loop */
    struct lb_view *view;       /* current view (one reference) */
    uint64_t generation;        /* of the last view built */
    struct lb_worker **workers; /* running workers */
    unsigned n_workers;
    struct mailbox mbox;   /* reports from workers */
    bool mbox_ready;       /* mbox was set up */
    struct health *health; /* probes */
    /* Registries: the live objects of the current view, found again by identity on reload. */
    struct lb_server **servers; /* by backend name + address */
    size_t n_servers;
    struct lb_front **fronts; /* by name */
    size_t n_fronts;
    struct lb_listen **listens; /* by address */
    size_t n_listens;
    struct runtime_lists lists;     /* server lists set at run time, replacing the config's */
    struct event *drain_timer;      /* finishes removals once servers have drained (servers.c) */
    struct runtime_reloads reloads; /* reload outcomes, for metrics */
    atomic_size_t total_conns;      /* client connections over all workers (maxconn) */
    time_t started;                 /* process start, wall clock */
    struct evdns_base *dns;         /* resolves servers' host names without blocking */
    void (*active_changed)(void *arg, const char *backend); /* a sticky failover happened */
    void *active_arg;
};

void rt_close_server_conns(struct runtime *rt, struct lb_server *s);
/* Builds a view for cfg and makes it current (see runtime.c). */
int rt_install(struct runtime *rt, struct config *cfg, bool close_gone, char *err, size_t errlen);

#endif
