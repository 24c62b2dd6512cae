/* announce/: the anycast addresses of an active-active fixed address (BGP + ECMP through FRR or
 * BIRD on each balancer). k3lb never speaks BGP: it holds each address on a TUN interface of its
 * own while the frontends have usable servers, and takes it off when they do not or when it
 * stops; the routing daemon on the host exports the interface's connected routes, so its
 * announcement follows. A killed k3lb takes the interface with it; a hung one stops renewing
 * the addresses' lifetimes and the kernel removes them. Main thread. */
#ifndef K3LB_ANNOUNCE_ANNOUNCE_H
#define K3LB_ANNOUNCE_ANNOUNCE_H

#include "admin/admin.h"
#include "config/config-t.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct runtime;
struct announce;

/* Starts announcing what cfg->announce says (nothing when it names no address: then NULL with
 * err ""). NULL with the reason in err when the interface cannot be made (no CAP_NET_ADMIN). */
struct announce *announce_new(struct event_base *base, const struct config *cfg, struct runtime *rt,
                              char *err, size_t errlen);
/* A reloaded config: its addresses, frontends and lifetime (the interface stays). */
void announce_configure(struct announce *a, const struct config *cfg);
/* A stop: every address is withdrawn now and for good; the host still accepts connections to
 * them (their local routes stay) until the process ends. */
void announce_withdraw(struct announce *a, const char *why);
/* What /status, the metrics and the stats page show. */
void announce_status(const struct announce *a, struct admin_announce *out);
/* The interface's descriptor, for a binary upgrade. */
int announce_fd(const struct announce *a);
/* handed_over: a successor holds the interface and announces: the addresses are left on. */
void announce_free(struct announce *a, bool handed_over);

#endif
