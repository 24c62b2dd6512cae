/* SNI routing: which backend a frontend's routes give a TLS server name. Pure, on the snapshot;
 * the connection peeks the name (common/tlshello.h) and asks here. */
#ifndef K3LB_LB_ROUTE_H
#define K3LB_LB_ROUTE_H

#include "config/config-t.h"

#include <stdbool.h>

/* The backend index for name (lower case, "" for none): the route with that exact name, else
 * the one whose "*.suffix" is the longest that name ends in (".suffix" with at least one label
 * before it), else the frontend's default, which is n_backends when it has none. *routed: a
 * route took it (a route may name the default backend too). */
size_t lb_route_pick(const struct config_frontend *f, const char *name, bool *routed);

#endif
