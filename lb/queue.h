/* The lists of a backend's queue (maxconn): the clients waiting for a slot, oldest first, over
 * all workers, under the queue's lock; and each worker's own waiting connections, which it
 * walks when kicked. Only the lists and the kick live here; when to wait, and what a client
 * does once it may go, is the connection's (lb/conn.c). */
#ifndef K3LB_LB_QUEUE_H
#define K3LB_LB_QUEUE_H

#include "lb/balance-t.h"
#include "lb/conn-t.h"

#include <stdbool.h>

/* Made with a view's pool, freed with it. */
struct lb_queue *lb_queue_new(void);
void lb_queue_free(struct lb_queue *q);

/* Any thread: asks the worker of the oldest waiting client to look for a slot. */
void lb_queue_kick_head(struct lb_queue *q);

/* c's worker: puts c last (or first again, when a slot it was given went to another worker),
 * in q and in its home's list. false, and nothing done, when max wait already (never first). */
bool lb_queue_add(struct lb_queue *q, struct lb_conn *c, bool first, size_t max);

/* c's worker: takes c out of both lists for good, and kicks the next. */
void lb_queue_leave(struct lb_queue *q, struct lb_conn *c);

/* c's worker: when c is the oldest, asks take(c) under the lock; unless take says -2 (wait on),
 * c leaves both lists (the next is not kicked) and take's answer is returned. -2 otherwise. */
int lb_queue_pop_if_head(struct lb_queue *q, struct lb_conn *c, int (*take)(struct lb_conn *c));

#endif
