/* Addresses on a network interface the process owns, for announcing an anycast address through
 * a routing daemon that exports the interface's connected routes (FRR's redistribute connected,
 * BIRD's protocol direct). The interface is a TUN device held open by this process: it goes
 * away with the process, so a killed k3lb withdraws at once. Each address carries a lifetime
 * the kernel enforces, so a hung k3lb withdraws when it stops renewing. Needs CAP_NET_ADMIN.
 * Blocking netlink calls on the main thread (each a single request and its acknowledgement). */
#ifndef K3LB_COMMON_IFADDR_H
#define K3LB_COMMON_IFADDR_H

#include "common/net-t.h"

#include <stdbool.h>
#include <stddef.h>

/* Creates the TUN interface name (or takes over one held by an upgrading predecessor when fd
 * is given), brings it up; returns its descriptor, or -1 with the reason in err. */
int ifaddr_tun_open(const char *name, char *err, size_t errlen);

/* Puts the address on the interface, or renews it, with a valid and preferred lifetime of
 * lifetime_s seconds (the kernel removes it when that passes unrenewed). 0, or -1. */
int ifaddr_set(const char *ifname, const struct net_cidr *addr, unsigned lifetime_s, char *err,
               size_t errlen);
/* Takes the address off; one already gone is no error. 0, or -1. */
int ifaddr_del(const char *ifname, const struct net_cidr *addr, char *err, size_t errlen);
/* Adds (or removes) a local route of its own for the address through the interface, so the
 * host keeps accepting connections to it after the address is taken off (a withdrawn route
 * still brings packets for a moment); it goes away with the interface. 0, or -1. */
int ifaddr_local_route(const char *ifname, const struct net_cidr *addr, bool add, char *err,
                       size_t errlen);

#endif
