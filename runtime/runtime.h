/* The balancer as a whole, driven from the main thread: listening sockets, live servers,
 * the current view, the workers and the health engine. Turns a config snapshot into a view and
 * hands it to the workers; later snapshots (reload) reuse what they can. */
#ifndef K3LB_RUNTIME_RUNTIME_H
#define K3LB_RUNTIME_RUNTIME_H

#include "config/config-t.h"
#include "lb/server.h"
#include "lb/view.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct evdns_base;
struct lb_runtime;
struct upgrade_socket;

/* Binds every listen address, creates servers and health probes, starts the workers. On error
 * nothing is left running and err says why. Takes its own reference to cfg. */
struct lb_runtime *lb_runtime_new(struct event_base *base, struct config *cfg, char *err,
                                  size_t errlen);
/* Swaps in a new snapshot (reload). Keeps listening sockets whose address is unchanged, opens
 * new ones, lets removed ones go; servers keep their live state by backend and address. On
 * error the old config keeps serving. */
int lb_runtime_apply(struct lb_runtime *rt, struct config *cfg, char *err, size_t errlen);

/* Reload outcomes since start. */
struct lb_reloads {
    uint64_t ok;     /* reloads applied */
    uint64_t failed; /* reloads refused (bad config) */
    time_t last;     /* wall-clock time of the last attempt, 0 if none */
    bool last_ok;    /* whether it was applied */
};

void lb_runtime_note_reload(struct lb_runtime *rt, bool ok);
const struct lb_reloads *lb_runtime_reloads(const struct lb_runtime *rt);
time_t lb_runtime_started(const struct lb_runtime *rt);

/* The process's DNS resolver (main thread). */
struct evdns_base *lb_runtime_dns(struct lb_runtime *rt);

/* cb is told when a sticky backend's ACTIVE server moves to another one (a failover); NULL
 * to stop. One watcher. */
void lb_runtime_watch_active(struct lb_runtime *rt, void (*cb)(void *arg, const char *backend),
                             void *arg);

/* The ACTIVE server of a sticky backend ("host:port"), or NULL. */
const char *lb_runtime_sticky_active(struct lb_runtime *rt, const char *backend);

/* Stops accepting: new clients are refused (or, handed_over, accepted by the successor of a
 * binary upgrade on the same sockets); open connections go on. */
void lb_runtime_stop_accepting(struct lb_runtime *rt, bool handed_over);
/* Open client connections over all frontends. */
uint64_t lb_runtime_active(const struct lb_runtime *rt);
/* Closes every connection, stops the workers, frees everything. */
void lb_runtime_free(struct lb_runtime *rt);

/* Current view, for status rendering (main thread; valid until the next apply). */
const struct lb_view *lb_runtime_view(const struct lb_runtime *rt);
unsigned lb_runtime_workers(const struct lb_runtime *rt);

/* The listening sockets of the current view, for a binary upgrade (malloc'd; the fds stay
 * the runtime's). */
struct upgrade_socket *lb_runtime_listen_sockets(const struct lb_runtime *rt, size_t *n);

#endif
