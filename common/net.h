/* Socket helpers shared by listeners, connections and health probes. */
#ifndef K3LB_COMMON_NET_H
#define K3LB_COMMON_NET_H

#include "common/net-t.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Resolves a target (host:port) to its first address, numeric hosts without DNS. Blocking for
 * host names; called on the main thread at start and reload only. Returns 0 or an EAI_ code. */
int net_resolve(const struct net_addr *a, struct net_sockaddr *out);

/* The same for a literal address only: never asks DNS. EAI_NONAME for a host name. */
int net_resolve_numeric(const struct net_addr *a, struct net_sockaddr *out);

/* Opens a listening socket for a listen address. ":port" binds [::] dual-stack when the host
 * has IPv6, else 0.0.0.0. reuseport lets each worker have its own socket on the address.
 * Returns the fd or -1 with errno set and a reason in why. */
int net_listen(const struct net_addr *a, bool reuseport, int backlog, char *why, size_t whylen);

/* TCP_NODELAY and keepalive on a connected socket. */
void net_tune(int fd);
/* The same plus keepalive timings on a listening socket: accepted sockets inherit them. */
void net_tune_listener(int fd);
/* Closes with a reset instead of a FIN (SO_LINGER 0): the peer learns at once that the
 * connection is gone. */
void net_close_reset(int fd);

/* "1.2.3.4:5" / "[::1]:5" / "unix:/p". */
void net_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);
/* Hash of the address part only (no port), for source balancing. */
uint64_t net_addr_hash(const struct sockaddr *sa);

/* "10.0.0.0/8", "fd00::/8", or an address alone (a /32 or /128). False when it is not one
 * (host bits set below the prefix are allowed and ignored). */
bool net_cidr_parse(const char *s, struct net_cidr *out);
/* True when sa (IPv4, IPv6, or IPv4 mapped into IPv6 by a dual-stack listener) is in c. */
bool net_cidr_match(const struct net_cidr *c, const struct sockaddr *sa);

/* 64-bit FNV-1a then a final mix; used for hashing names and addresses. */
uint64_t net_hash(const void *data, size_t len, uint64_t seed);

#endif
