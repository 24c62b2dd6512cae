/* Per-source limits of a frontend: how many connections one client address (or IPv6 prefix)
 * may have open, and how many new ones a second, across all workers (HAProxy's src_conn_cur and
 * src_conn_rate, nginx's limit_conn). The table is shared by the workers, striped locks held for
 * a few instructions per accept and per close; only frontends with a limit have one. */
#ifndef K3LB_LB_SOURCE_H
#define K3LB_LB_SOURCE_H

#include "lb/source-t.h"

#include <sys/socket.h>

struct lb_srctab *lb_source_new(void);
void lb_source_free(struct lb_srctab *t);

/* The key of a source: IPv4 (and IPv4-mapped IPv6) whole, as ::ffff:a.b.c.d; IPv6 masked to
 * prefix6 bits. */
void lb_source_key(const struct sockaddr *peer, unsigned prefix6, unsigned char key[16]);

/* Judges a new client of peer at now_ms. Admitted, *held is its entry (NULL: its set was all
 * busy, it goes uncounted), to be given back with lb_source_release when it closes. */
enum lb_src_verdict lb_source_admit(struct lb_srctab *t, const struct lb_src_limits *lim,
                                    const struct sockaddr *peer, uint64_t now_ms,
                                    struct lb_src_entry **held);
void lb_source_release(struct lb_srctab *t, struct lb_src_entry *held);

#endif
