/* GET /metrics: every counter and state of the balancer in the Prometheus text format
 * (version 0.0.4). Names start with k3lb_; README lists them. Main thread. */
#ifndef K3LB_ADMIN_METRICS_H
#define K3LB_ADMIN_METRICS_H

#include "admin/admin-t.h"
#include "runtime/runtime.h"

struct evbuffer;

void admin_metrics_render(const struct runtime *rt, struct evbuffer *out);
/* k3lb_announce_announced, one per anycast address: 1 while this node announces it. */
void admin_announce_metrics(struct evbuffer *out, const struct admin_announce *an);

#endif
