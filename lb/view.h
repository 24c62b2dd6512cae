/* A view: one config snapshot joined with the live objects it names (servers, frontend
 * counters, listening sockets). Immutable once published; a reload or a runtime change makes a
 * new view and hands it to every worker. Connections keep the view they were accepted under, so
 * a swap never disturbs them. Built and freed on the main thread (runtime.c); workers only read
 * it and give back references. */
#ifndef K3LB_LB_VIEW_H
#define K3LB_LB_VIEW_H

#include "lb/view-t.h"

#include <stdbool.h>

struct lb_view *lb_view_ref(struct lb_view *v);
/* Drops a reference; true when it was the last and the caller must see that the view gets to
 * lb_view_free on the main thread. */
bool lb_view_unref(struct lb_view *v);
/* Main thread. */
void lb_view_free(struct lb_view *v);

void lb_listen_unref(struct lb_listen *l);
void lb_front_unref(struct lb_front *f);

#endif
