/* admin/: the HTTP API on the admin listener (loopback TCP or a unix socket). Reads the
 * balancer's state and turns requests into commands; it never touches sockets of the data
 * path. Main thread. */
#ifndef K3LB_ADMIN_ADMIN_H
#define K3LB_ADMIN_ADMIN_H

#include "admin/admin-t.h"
#include "config/config-t.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct runtime;
struct admin;

/* Commands that other parts offer through the API. */
struct admin_hooks {
    /* PUT /servers (agent mode): replace the learned list. 0, or -1 with a reason. */
    int (*put_servers)(void *arg, const char *const *addresses, size_t n, char *err, size_t errlen);
    /* POST /reload: re-read the config; 0, or -1 with the errors as lines in err. */
    int (*reload)(void *arg, char *err, size_t errlen);
    /* GET /healthz: true once k3lb is stopping (no new connections). */
    bool (*stopping)(void *arg);
    /* GET /status, /metrics: the announcement's state; configured false when none. */
    void (*announce)(void *arg, struct admin_announce *out);
    void *arg;
};

/* cfg: the admin section (listener and token). */
struct admin *admin_new(struct event_base *base, const struct config_admin *cfg, struct runtime *rt,
                        const struct admin_hooks *hooks, char *err, size_t errlen);
/* A request is being read or answered, or a client connected moments ago and may be sending
 * one: a process leaving after an upgrade waits for these (within its grace), so no request
 * it took is dropped. */
bool admin_busy(struct admin *a);
void admin_free(struct admin *a);
/* The listening socket (for a binary upgrade), or -1. */
int admin_fd(const struct admin *a);
/* The successor of an upgrade took the socket: stop accepting (requests under way are still
 * answered) and leave its file in place at free. */
void admin_handed_over(struct admin *a);

#endif
