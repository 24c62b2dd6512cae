/* Internals of the runtime shared by its two files: runtime.c (views, listeners, workers,
 * life cycle) and servers.c (server lists changed at run time). Internal to lb/. */
#ifndef K3LB_LB_RUNTIME_INT_H
#define K3LB_LB_RUNTIME_INT_H

#include "mailbox.h"
#include "runtime.h"
#include "sticky.h"
#include "worker.h"

#include <event2/event.h>

struct lb_runtime {
    struct event_base *base;    /* main loop */
    struct lb_view *view;       /* current view (one reference) */
    uint64_t generation;        /* of the last view built */
    struct lb_worker **workers; /* running workers */
    unsigned n_workers;
    struct lb_mailbox mbox; /* reports from workers */
    bool mbox_ready;        /* mbox was set up */
    struct health *health;  /* probes */
    /* Registries: the live objects of the current view, found again by identity on reload. */
    struct lb_server **servers; /* by backend name + address */
    size_t n_servers;
    struct lb_front **fronts; /* by name */
    size_t n_fronts;
    struct lb_listen **listens; /* by address */
    size_t n_listens;
    struct lb_list *lists; /* server lists set at run time, replacing the config's */
    size_t n_lists;
    struct event *drain_timer; /* finishes removals once servers have drained */
    struct lb_reloads reloads; /* reload outcomes, for metrics */
    atomic_size_t total_conns; /* client connections over all workers (maxconn) */
    time_t started;            /* process start, wall clock */
    struct evdns_base *dns;    /* resolves servers' host names without blocking */
};

/* A backend's server list set at run time (agent sources, admin API). For a sticky backend it
 * is the learned list; the config's servers (the fixed address) are added when missing. */
struct lb_list {
    char *backend;                 /* backend name */
    bool replaced;                 /* servers replaces the config's list (agent) */
    struct config_server *servers; /* the replacing list, or servers added through the API */
    size_t n;
    char **removed; /* config servers taken out through the API */
    size_t n_removed;
    char **draining; /* servers to remove once their connections are gone */
    size_t n_draining;
    struct lb_sticky_memo memo; /* sticky manager memory for the backend */
};

void *rt_zalloc(size_t n, size_t size);
void *rt_grow(void *p, size_t n, size_t size);
struct lb_list *rt_find_list(struct lb_runtime *rt, const char *backend);
struct lb_list *rt_get_list(struct lb_runtime *rt, const char *backend);
bool rt_listed(const struct config_server *list, size_t n, const char *address);
bool rt_in_strings(char *const *v, size_t n, const char *s);
void rt_free_strings(char **v, size_t n);
void rt_close_server_conns(struct lb_runtime *rt, struct lb_server *s);
/* Builds a view for cfg and makes it current (see runtime.c). */
int rt_install(struct lb_runtime *rt, struct config *cfg, bool close_gone, char *err,
               size_t errlen);
/* Finishes removals whose servers have drained (a timer). */
void rt_drain_tick(evutil_socket_t fd, short what, void *arg);

#endif
