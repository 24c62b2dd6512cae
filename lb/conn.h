/* Connection life: accept -> connect (with retries) -> forward -> close. Worker thread only. */
#ifndef K3LB_LB_CONN_H
#define K3LB_LB_CONN_H

#include "lb/worker-t.h"

extern const char *const lb_conn_end_names[];

/* Starts a connection the worker has just accepted and registered (c->w and c->wv set, the
 * rest zero): picks a server and connects. When the connection ends, the worker's conn_done
 * takes the struct back. */
void lb_conn_start(struct lb_conn *c, size_t front, int fd, const struct sockaddr *peer,
                   socklen_t peer_len);
/* Closes a connection now (its server went down, or k3lb stops). */
void lb_conn_kill(struct lb_conn *c, enum lb_conn_end why);

#endif
