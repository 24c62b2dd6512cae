/* Listening sockets by address (see listeners.c). Main thread. */
#ifndef K3LB_RUNTIME_LISTENERS_H
#define K3LB_RUNTIME_LISTENERS_H

#include "common/net-t.h"
#include "lb/view-t.h"

#include <stdbool.h>
#include <stddef.h>

struct upgrade_socket;

/* The socket set of an address in the registry reg (n entries), or NULL. */
struct lb_listen *runtime_listen_find(struct lb_listen *const *reg, size_t n,
                                      const struct net_addr *a);
/* Opens (or takes over from an upgrade) the sockets of an address for n_workers workers;
 * exclusive: one socket without SO_REUSEPORT, shared (see listeners.c). NULL with err set. */
struct lb_listen *runtime_listen_open(const struct net_addr *a, unsigned n_workers, bool exclusive,
                                      char *err, size_t errlen);
/* Out of LISTEN: new clients are refused at once; the fds stay valid. */
void runtime_listen_shut(const struct lb_listen *l);
/* Shuts every socket set of reg that keep lacks. */
void runtime_listens_refuse_removed(struct lb_listen *const *reg, size_t n,
                                    struct lb_listen *const *keep, size_t n_keep);
/* Every listening socket of a view, for a binary upgrade (malloc'd; the fds stay the view's). */
struct upgrade_socket *runtime_view_sockets(const struct lb_view *v, size_t *n);

#endif
