/* The plumbing every check kind uses to reach a server: where a probe goes (check_address,
 * health.port, the API server's port), the connect, waiting on a socket of a client library,
 * the PROXY header a server's traffic port expects, the CONNECT through an http_proxy, and
 * how a socket error reads as a result. The engine (health/health.c) starts probes and takes
 * their results; this file only carries them to the server and back. */
#include "health/check.h"

#include "config/value.h"
#include "common/net.h"
#include "common/proxyproto.h"
#include "common/tunnel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static unsigned sockaddr_port(const struct net_sockaddr *sa)
{
    if (sa->u.sa.sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&sa->u.ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&sa->u.ss)->sin6_port);
}

/* The server's address, or check_address, on health.port / check_port when one is set.
 * Through a proxy the address is the proxy's: both then go into the CONNECT target instead
 * (probe_tunnel_target). check_address was checked to be an IP literal at load. */
static void probe_addr(const struct health_target *t, unsigned port_override,
                       struct net_sockaddr *out)
{
    unsigned port = port_override ? port_override : t->p.port ? t->p.port : sockaddr_port(&t->addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->u.ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->u.ss;
    *out = t->addr;
    if (t->tunnel_target)
        return;
    if (t->p.check_address) {
        memset(out, 0, sizeof(*out));
        if (inet_pton(AF_INET, t->p.check_address, &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            out->len = sizeof(*v4);
        } else if (inet_pton(AF_INET6, t->p.check_address, &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            out->len = sizeof(*v6);
        }
    }
    if (out->u.sa.sa_family == AF_INET)
        v4->sin_port = htons((uint16_t)port);
    else if (out->u.sa.sa_family == AF_INET6)
        v6->sin6_port = htons((uint16_t)port);
}

void health_target_addr(const struct health_target *t, unsigned port, struct net_sockaddr *out)
{
    probe_addr(t, port, out);
}

/* Through a proxy: what it is asked to CONNECT to, with check_address and the check port. */
static const char *probe_tunnel_target(const struct health_target *t, unsigned port_override,
                                       char *buf, size_t len)
{
    const char *target = t->tunnel_target, *colon = strrchr(target, ':');
    unsigned port = port_override ? port_override : t->p.port;
    if (t->p.check_address) {
        if (!port && colon)
            port = (unsigned)strtoul(colon + 1, NULL, 10);
        snprintf(buf, len, strchr(t->p.check_address, ':') ? "[%s]:%u" : "%s:%u",
                 t->p.check_address, port);
        return buf;
    }
    if (!port)
        return target;
    config_addr_with_port(target, port, buf, len);
    return buf;
}

/* Where a probe goes, as text, for kinds whose client library dials by itself. */
void health_probe_host(const struct health_probe *p, char *host, size_t len, unsigned *port)
{
    struct net_sockaddr sa;
    probe_addr(p->t, p->port, &sa);
    if (sa.u.sa.sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa.u.ss)->sin6_addr, host, (socklen_t)len);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa.u.ss)->sin_addr, host, (socklen_t)len);
    *port = sockaddr_port(&sa);
}

int health_probe_connect(struct health_probe *p)
{
    const struct net_sockaddr *sa = &p->sa;
    probe_addr(p->t, p->port, &p->sa);
    p->fd = socket(sa->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return errno;
    if (connect(p->fd, &sa->u.sa, sa->len) < 0 && errno != EINPROGRESS)
        return errno;
    return 0;
}

void health_probe_fail_errno(struct health_probe *p, int err, const char *what)
{
    enum health_result r;
    switch (err) {
    case ECONNREFUSED:
        r = HEALTH_RESULT_REFUSED;
        break;
    case ETIMEDOUT:
        r = HEALTH_RESULT_TIMEOUT;
        break;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case EADDRNOTAVAIL:
        r = HEALTH_RESULT_UNREACHABLE;
        break;
    case ECONNRESET:
    case EPIPE:
        r = HEALTH_RESULT_RESET;
        break;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ENOBUFS:
        r = HEALTH_RESULT_NO_RESOURCES;
        break;
    default:
        r = HEALTH_RESULT_LOCAL_ERROR;
    }
    health_probe_done(p, r, "%s: %s", what, strerror(err));
}

static void foreign_io(evutil_socket_t fd, short what, void *arg)
{
    struct health_probe *p = arg;
    (void)fd;
    event_free(p->io);
    p->io = NULL;
    p->on_io(p, what);
}

void health_probe_wait(struct health_probe *p, int fd, short what,
                       void (*then)(struct health_probe *p, short what))
{
    if (p->io)
        event_free(p->io);
    p->on_io = then;
    p->io = event_new(p->base, fd, what, foreign_io, p);
    event_add(p->io, NULL);
}

void health_probe_unwait(struct health_probe *p)
{
    if (p->io)
        event_free(p->io);
    p->io = NULL;
}

/* ---- through an HTTP proxy ----------------------------------------------------------------- */

/* A server whose traffic port expects a PROXY header gets one of no address (v1 UNKNOWN, v2
 * LOCAL: the balancer's own connection) before the probe speaks. */
static void probe_begin(struct health_probe *p, void (*then)(struct health_probe *p))
{
    unsigned char hdr[PROXYPROTO_BUILD_MAX];
    size_t n;
    if (p->t->p.proxy_header && !p->port) { /* only the traffic port expects one */
        n = proxyproto_build(p->t->p.proxy_header, NULL, NULL, hdr);
        if (send(p->fd, hdr, n, MSG_NOSIGNAL) != (ssize_t)n) {
            health_probe_fail_errno(p, errno ? errno : EAGAIN, "PROXY header");
            return;
        }
    }
    then(p);
}

static void tunnel_read(evutil_socket_t fd, short what, void *arg)
{
    struct health_probe *p = arg;
    char why[200];
    int r = tunnel_recv(fd, why, sizeof(why));
    (void)what;
    if (r == 0)
        return; /* more to come (the event persists) */
    event_free(p->io);
    p->io = NULL;
    if (r < 0)
        health_probe_done(p, HEALTH_RESULT_PROXY_ERROR, "%s", why);
    else
        probe_begin(p, p->tunneled);
}

/* The socket became writable: the connect is done, one way or the other. */
static void connect_done(evutil_socket_t fd, short what, void *arg)
{
    struct health_probe *p = arg;
    int err = 0;
    socklen_t len = sizeof(err);
    (void)what;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    event_free(p->io);
    p->io = NULL;
    if (err)
        health_probe_fail_errno(p, err, "connect");
    else
        health_probe_through(p, p->tunneled);
}

void health_probe_await_connect(struct health_probe *p, void (*then)(struct health_probe *p))
{
    p->tunneled = then;
    p->io = event_new(p->base, p->fd, EV_WRITE, connect_done, p);
    event_add(p->io, NULL);
}

void health_probe_through(struct health_probe *p, void (*then)(struct health_probe *p))
{
    char buf[NET_ADDRSTRLEN + 8];
    const char *target;
    int err;
    if (!p->t->tunnel_target) {
        probe_begin(p, then);
        return;
    }
    target = probe_tunnel_target(p->t, p->port, buf, sizeof(buf));
    err = tunnel_send(p->fd, target, p->t->tunnel_auth);
    if (err) {
        health_probe_fail_errno(p, err, "proxy");
        return;
    }
    p->tunneled = then;
    if (p->io)
        event_free(p->io);
    p->io = event_new(p->base, p->fd, EV_READ | EV_PERSIST, tunnel_read, p);
    event_add(p->io, NULL);
}
