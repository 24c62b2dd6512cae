/* Health parameters from config (defaults, secrets, TLS contexts). Internal to health/. */
#ifndef K3LB_HEALTH_PARAMS_H
#define K3LB_HEALTH_PARAMS_H

#include "health/health-t.h"

/* Never fails: a problem (unreadable secret, bad PEM) is kept in p->setup_error and reported
 * by every probe, so the server shows it in /status instead of k3lb refusing to start. */
void health_params_build(struct health_params *p, const struct config_health *c,
                         const struct health_endpoint *ep);
void health_params_free(struct health_params *p);
/* Same kind and timing: a reload need not reschedule the probes. */
bool health_params_same_schedule(const struct health_params *a, const struct health_params *b);

#endif
