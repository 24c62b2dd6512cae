/* GET /healthz: one yes or no for whatever decides where the fixed address lives — keepalived's
 * vrrp_script through `k3lb ctl health`, a cloud balancer's probe. Main thread. */
#ifndef K3LB_ADMIN_HEALTHZ_H
#define K3LB_ADMIN_HEALTHZ_H

#include "runtime/runtime.h"

#include <stdbool.h>
#include <stddef.h>

/* The HTTP status of the answer: 200 when k3lb is not stopping and every frontend named (every
 * frontend when names is empty) has a server that would take a new connection, 503 when not,
 * 404 when a name is no frontend. msg gets one line saying why. */
int admin_healthz(const struct runtime *rt, bool stopping, const char *const *names, size_t n_names,
                  char *msg, size_t len);

#endif
