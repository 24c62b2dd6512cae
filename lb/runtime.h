/* The balancer as a whole, driven from the main thread: listening sockets, live servers,
 * the current view, the workers and the health engine. Turns a config snapshot into a view and
 * hands it to the workers; later snapshots (reload) reuse what they can. */
#ifndef K3LB_LB_RUNTIME_H
#define K3LB_LB_RUNTIME_H

#include "config/config-t.h"
#include "server.h"
#include "view.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct evdns_base;
struct lb_runtime;

/* Binds every listen address, creates servers and health probes, starts the workers. On error
 * nothing is left running and err says why. Takes its own reference to cfg. */
struct lb_runtime *lb_runtime_new(struct event_base *base, struct config *cfg, char *err,
                                  size_t errlen);
/* Swaps in a new snapshot (reload). Keeps listening sockets whose address is unchanged, opens
 * new ones, lets removed ones go; servers keep their live state by backend and address. On
 * error the old config keeps serving. */
int lb_runtime_apply(struct lb_runtime *rt, struct config *cfg, char *err, size_t errlen);

/* Replaces a backend's server list at run time (agent sources, API). Servers that leave it lose
 * their connections at once; new ones are probed; servers that stay keep their state. */
int lb_runtime_set_servers(struct lb_runtime *rt, const char *backend, const char *const *addresses,
                           size_t n, char *err, size_t errlen);

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

/* Outcome of a command from the API. */
enum lb_api {
    LB_API_OK = 0,    /* done */
    LB_API_ACCEPTED,  /* started; finishes later (a drain before removal) */
    LB_API_INVALID,   /* bad argument */
    LB_API_NOT_FOUND, /* no such backend or server */
    LB_API_CONFLICT,  /* not possible in the current state */
};

/* Servers changed at run time; the changes survive a reload (added servers stay, removed ones
 * stay out, states and pinned weights are kept while the server is in the new config). */
enum lb_api lb_runtime_add_server(struct lb_runtime *rt, const char *backend, const char *address,
                                  unsigned weight, char *err, size_t errlen);
/* Drains (no new connections), then removes once the last connection ended; force removes now
 * and closes its connections. */
enum lb_api lb_runtime_remove_server(struct lb_runtime *rt, const char *backend,
                                     const char *address, bool force, char *err, size_t errlen);
/* admin: enum lb_admin_state or -1 to keep; weight: 0..256 or -1 to keep. */
enum lb_api lb_runtime_set_server(struct lb_runtime *rt, const char *backend, const char *address,
                                  int admin, int weight, char *err, size_t errlen);
struct lb_server *lb_runtime_server(const struct lb_runtime *rt, const char *backend,
                                    const char *address);
const struct lb_pool *lb_runtime_pool(const struct lb_runtime *rt, const char *backend);

/* The process's DNS resolver (main thread). */
struct evdns_base *lb_runtime_dns(struct lb_runtime *rt);

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

#endif
