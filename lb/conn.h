/* Connection life: accept -> connect (with retries) -> forward -> close. Worker thread only. */
#ifndef K3LB_LB_CONN_H
#define K3LB_LB_CONN_H

#include "worker-t.h"

extern const char *const lb_conn_end_names[];

/* Takes over an accepted client socket and starts connecting it to a server. */
void lb_conn_accept(struct lb_worker *w, struct lb_wlisten *l, int fd, const struct sockaddr *peer,
                    socklen_t peer_len);
/* Closes a connection now (its server went down, or k3lb stops). */
void lb_conn_kill(struct lb_conn *c, enum lb_conn_end why);

/* Frees the pooled connection structs of a worker. */
void lb_conn_pool_drain(struct lb_worker *w);

#endif
