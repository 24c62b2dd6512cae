/* Warnings about backends as a whole, after one server changed (runtime/guards.c). */
#ifndef K3LB_RUNTIME_GUARDS_H
#define K3LB_RUNTIME_GUARDS_H

#include "lb/view-t.h"

#include <stdbool.h>

struct lb_server;

/* An etcd backend of v that changed holds fewer than a majority of healthy members (warn), or
 * a majority again (info). */
void runtime_quorum_guard(const struct lb_view *v, const struct lb_server *changed, bool up);
/* A backend of v that changed has no usable server (warn), or one again (info). */
void runtime_backend_guard(const struct lb_view *v, const struct lb_server *changed, bool up);

#endif
