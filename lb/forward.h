/* Moving bytes one way between two sockets, with back-pressure and half-close.
 *
 * A connection has two flows (client->server "up", server->client "down"). A flow reads from
 * its source only while its buffer has room, so a slow reader stops the writer instead of
 * growing memory; the buffer exists only while bytes are in flight, so an idle connection holds
 * none. Sockets are registered edge-triggered: a side's readable/writable flags are set by the
 * event and cleared here on EAGAIN. This file is the one place a zero-copy (splice) path plugs
 * in. */
#ifndef K3LB_LB_FORWARD_H
#define K3LB_LB_FORWARD_H

#include "lb/forward-t.h"

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void lb_fwd_init(struct lb_fwd *fx, size_t size, size_t max_free);
/* Frees what is kept for reuse. */
void lb_fwd_drain(struct lb_fwd *fx);

/* Moves what it can from src to dst without blocking, spliced when fx->splice, else copied.
 * moved is increased by the bytes delivered this call. */
enum lb_flow_status lb_forward(struct lb_fwd *fx, struct lb_flow *f, struct lb_side *src,
                               struct lb_side *dst, uint64_t *moved);

/* Gives a flow's buffer or pipe back (connection closing). */
void lb_flow_release(struct lb_fwd *fx, struct lb_flow *f);

#endif
