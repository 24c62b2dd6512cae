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
struct runtime;
struct upgrade_socket;

/* Binds every listen address, creates servers and health probes, starts the workers. On error
 * nothing is left running and err says why. Takes its own reference to cfg. */
struct runtime *runtime_new(struct event_base *base, struct config *cfg, char *err, size_t errlen);
/* Swaps in a new snapshot (reload). Keeps listening sockets whose address is unchanged, opens
 * new ones, lets removed ones go; servers keep their live state by backend and address. On
 * error the old config keeps serving. */
int runtime_apply(struct runtime *rt, struct config *cfg, char *err, size_t errlen);

/* Reload outcomes since start. */
struct runtime_reloads {
    uint64_t ok;     /* reloads applied */
    uint64_t failed; /* reloads refused (bad config) */
    time_t last;     /* wall-clock time of the last attempt, 0 if none */
    bool last_ok;    /* whether it was applied */
};

void runtime_note_reload(struct runtime *rt, bool ok);
const struct runtime_reloads *runtime_reloads(const struct runtime *rt);
time_t runtime_started(const struct runtime *rt);

/* The process's DNS resolver (main thread). */
struct evdns_base *runtime_dns(struct runtime *rt);

/* cb is told when a sticky backend's ACTIVE server moves to another one (a failover); NULL
 * to stop. One watcher. */
void runtime_watch_active(struct runtime *rt, void (*cb)(void *arg, const char *backend),
                          void *arg);

/* The ACTIVE server of a sticky backend ("host:port"), or NULL. */
const char *runtime_sticky_active(struct runtime *rt, const char *backend);

/* Stops accepting: new clients are refused (or, handed_over, accepted by the successor of a
 * binary upgrade on the same sockets); open connections go on. */
void runtime_stop_accepting(struct runtime *rt, bool handed_over);
/* Open client connections over all frontends. */
uint64_t runtime_active(const struct runtime *rt);
/* Closes every connection, stops the workers, frees everything. */
void runtime_free(struct runtime *rt);

/* Current view, for status rendering (main thread; valid until the next apply). */
const struct lb_view *runtime_view(const struct runtime *rt);
unsigned runtime_workers(const struct runtime *rt);

/* The listening sockets of the current view, for a binary upgrade (malloc'd; the fds stay
 * the runtime's). */
struct upgrade_socket *runtime_listen_sockets(const struct runtime *rt, size_t *n);

#endif
