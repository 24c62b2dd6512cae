/* admin/: the HTTP API on the admin listener (loopback TCP or a unix socket). Reads the
 * balancer's state and turns requests into commands; it never touches sockets of the data
 * path. Main thread. */
#ifndef K3LB_ADMIN_H
#define K3LB_ADMIN_H

#include "config/config-t.h"

#include <stddef.h>

struct event_base;
struct lb_runtime;
struct admin;

struct admin *admin_new(struct event_base *base, const struct config_addr *listen,
                        struct lb_runtime *rt, char *err, size_t errlen);
void admin_free(struct admin *a);

#endif
