/* A TCP tunnel through an HTTP forward proxy (the CONNECT method, RFC 9110 section 9.3.6), on
 * a non-blocking socket already connected to the proxy. Used by the data path and the health
 * probes when a backend is reached through a proxy (k3lb agent with HTTPS_PROXY, as K3s's
 * agent does with K3S_AGENT_HTTP_PROXY_ALLOWED). */
#ifndef K3LB_COMMON_TUNNEL_H
#define K3LB_COMMON_TUNNEL_H

#include <stddef.h>

/* The longest proxy answer read; a longer one is refused. */
#define TUNNEL_REPLY_MAX 4096

/* Sends "CONNECT target" with the Proxy-Authorization value when not NULL. 0, or an errno (a
 * fresh connection's send buffer takes the whole request, so a short send is EAGAIN). */
int tunnel_send(int fd, const char *target, const char *authorization);
/* Reads the proxy's answer, never past its end (what the server sends next stays in the
 * socket): 1 the tunnel is up, 0 more to read, -1 refused or broken, with the reason in why. */
int tunnel_recv(int fd, char *why, size_t whylen);

#endif
