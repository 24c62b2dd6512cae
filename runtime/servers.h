/* Server lists changed at run time: the agent's learned lists, and servers added, drained,
 * removed or re-weighted through the admin API. Each change builds a new view; the changes are
 * kept across reloads. Main thread. */
#ifndef K3LB_RUNTIME_SERVERS_H
#define K3LB_RUNTIME_SERVERS_H

#include "runtime/runtime.h"

/* Replaces a backend's server list at run time (agent sources, API). Servers that leave it lose
 * their connections at once; new ones are probed; servers that stay keep their state. */
int runtime_set_servers(struct runtime *rt, const char *backend, const char *const *addresses,
                        size_t n, char *err, size_t errlen);

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
enum lb_api runtime_add_server(struct runtime *rt, const char *backend, const char *address,
                               unsigned weight, char *err, size_t errlen);
/* Drains (no new connections), then removes once the last connection ended; force removes now
 * and closes its connections. */
enum lb_api runtime_remove_server(struct runtime *rt, const char *backend, const char *address,
                                  bool force, char *err, size_t errlen);
/* admin: enum lb_admin_state or -1 to keep; weight: 0..256 or -1 to keep. Taking the last
 * usable server of its backend out of rotation (drain, maint, weight 0) is refused (conflict)
 * unless force: new clients would find no server. */
enum lb_api runtime_set_server(struct runtime *rt, const char *backend, const char *address,
                               int admin, int weight, bool force, char *err, size_t errlen);
struct lb_server *runtime_server(const struct runtime *rt, const char *backend,
                                 const char *address);
const struct lb_pool *runtime_pool(const struct runtime *rt, const char *backend);

#endif
