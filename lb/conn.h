/* Connection life: accept -> connect (with retries) -> forward -> close. Worker thread only. */
#ifndef K3LB_LB_CONN_H
#define K3LB_LB_CONN_H

#include "lb/conn-t.h"
#include "lb/view-t.h"

extern const char *const lb_conn_end_names[];

/* Starts a connection its owner has just accepted (c->home and c->wv set, the rest zero) for
 * frontend vf of view v: picks the backend (routes) and a server of its pool with the owner's
 * balancing memory bals (one per pool of v), and connects. When the connection ends,
 * c->home->done takes the struct back. */
void lb_conn_start(struct lb_conn *c, const struct lb_view *v, const struct lb_view_front *vf,
                   struct balance_state *bals, int fd, const struct sockaddr *peer,
                   socklen_t peer_len);
/* Closes a connection now (its server went down, or k3lb stops). */
void lb_conn_kill(struct lb_conn *c, enum lb_conn_end why);

/* Owner thread, when its kick came: its queued connections look for a slot. */
void lb_conn_home_kick(struct lb_conn_home *home);

#endif
