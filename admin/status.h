/* The balancer's state as JSON for the admin API's GET /status: frontends with their counters,
 * backends with every server's state, counters and last health check. Main thread. */
#ifndef K3LB_ADMIN_STATUS_H
#define K3LB_ADMIN_STATUS_H

#include "admin/admin-t.h"
#include "runtime/runtime.h"

#include <cjson/cJSON.h>

cJSON *admin_status_json(const struct runtime *rt);
/* The "announce" object of /status: whether this node announces its anycast addresses, why. */
void admin_announce_json(cJSON *root, const struct admin_announce *an);

#endif
