/* GET /metrics: every counter and state of the balancer in the Prometheus text format
 * (version 0.0.4). Names start with k3lb_; README lists them. Main thread. */
#ifndef K3LB_ADMIN_METRICS_H
#define K3LB_ADMIN_METRICS_H

#include "runtime/runtime.h"

struct evbuffer;

void lb_metrics_render(const struct lb_runtime *rt, struct evbuffer *out);

#endif
