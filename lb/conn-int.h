/* Inside the connection state machine: what lb/conn.c (pick, connect, forward, close) and
 * lb/conn_intro.c (the PROXY header and the TLS hello before the connect) call of each other.
 * Internal to lb/. */
#ifndef K3LB_LB_CONN_INT_H
#define K3LB_LB_CONN_INT_H

#include "lb/conn-t.h"

#include <stdint.h>
#include <sys/time.h>

static inline struct timeval conn_ms_to_tv(uint64_t ms)
{
    return (struct timeval){.tv_sec = (time_t)(ms / 1000),
                            .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

/* Releases everything and hands the struct back; reset: RST instead of FIN. */
void conn_finish(struct lb_conn *c, enum lb_conn_end end, bool reset);
/* Picks the next server (or waits in the queue); ends the connection when none is left. */
void conn_retry(struct lb_conn *c);

/* lb/conn_intro.c: after the PROXY header (or at the accept), routing or the frontend's one
 * backend; the HEADER and HELLO states' drives. */
void conn_after_header(struct lb_conn *c);
void conn_drive_header(struct lb_conn *c, enum lb_conn_event ev);
void conn_drive_hello(struct lb_conn *c, enum lb_conn_event ev);

#endif
