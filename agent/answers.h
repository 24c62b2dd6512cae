/* What K3s servers answer the agent, read from the bytes alone (no connection, no state), so
 * that each reader is fuzzed on its own: /v1-k3s/apiservers, /db/info, /v1-k3s/config. */
#ifndef K3LB_AGENT_ANSWERS_H
#define K3LB_AGENT_ANSWERS_H

#include "agent/list.h"

#include <stddef.h>

/* /v1-k3s/apiservers: a JSON list of "host:port". Entries that are no address are skipped;
 * with rewrite_port, each is taken on that port (the supervisor's, where it differs from the
 * API server's, as K3s's agent rewrites them). The list comes out sorted. -1 when the answer
 * is not a JSON list. */
int agent_parse_apiservers(const char *body, size_t len, unsigned rewrite_port,
                           struct agent_list *l);
/* /db/info: the client URLs of every voting member (learners are left out, as K3s leaves them
 * out of its client list), as host:port with 2379 when a URL has no port; sorted. */
void agent_parse_members(const char *body, size_t len, struct agent_list *l);
/* /v1-k3s/config: the supervisor's and the API server's ports. -1 when either is missing. */
int agent_parse_ports(const char *body, size_t len, int *supervisor, int *https);

#endif
