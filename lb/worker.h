/* Worker threads: each runs one event base with its own listening sockets and connections.
 * The main thread talks to a worker only through its mailbox. */
#ifndef K3LB_LB_WORKER_H
#define K3LB_LB_WORKER_H

#include "lb/worker-t.h"

/* Creates the worker's event base and mailbox; the thread starts with lb_worker_start. */
/* total_conns: the process-wide count of client connections, shared by all workers. */
struct lb_worker *lb_worker_new(unsigned id, atomic_size_t *total_conns, struct mailbox *main_mbox);
int lb_worker_start(struct lb_worker *w);
/* Main thread: queue a command (enum lb_worker_cmd). */
void lb_worker_post(struct lb_worker *w, enum lb_worker_cmd cmd, void *ptr);
/* Main thread, after LB_WORKER_EXIT: waits for the thread and frees it. */
void lb_worker_join_free(struct lb_worker *w);

#endif
