/* The balancer's state as JSON for the admin API's GET /status: frontends with their counters,
 * backends with every server's state, counters and last health check. Main thread. */
#ifndef K3LB_ADMIN_STATUS_H
#define K3LB_ADMIN_STATUS_H

#include "runtime/runtime.h"

#include <cjson/cJSON.h>

cJSON *lb_status_json(const struct lb_runtime *rt);

#endif
