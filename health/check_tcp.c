/* tcp check: the server accepts a connection. The cheapest probe; it cannot see a server that
 * accepts but does not answer (other kinds can). Closes with a reset so that a thousand probes
 * per second leave no TIME_WAIT sockets behind. */
#include "health/check.h"

#include "common/net.h"

#include <errno.h>
#include <sys/socket.h>

static void tcp_up(struct health_probe *p)
{
    health_probe_done(p, HEALTH_RESULT_OK,
                      p->t->tunnel_target ? "connected through the proxy" : "connected");
}

static void tcp_start(struct health_probe *p)
{
    const struct net_sockaddr *sa = &p->sa;
    int err = health_probe_connect(p);
    if (err) {
        health_probe_fail_errno(p, err, "connect");
        return;
    }
    /* A nearby server often completes the handshake before connect() returns to us; asking
     * again tells at once and saves registering for an event and a loop iteration. */
    if (connect(p->fd, &sa->u.sa, sa->len) < 0) {
        if (errno == EISCONN) {
            health_probe_through(p, tcp_up);
            return;
        }
        if (errno != EALREADY && errno != EINPROGRESS) {
            /* Failed already; this call took the error off the socket, so report it now. */
            health_probe_fail_errno(p, errno, "connect");
            return;
        }
    }
    health_probe_await_connect(p, tcp_up);
}

static void tcp_abort(struct health_probe *p)
{
    (void)p;
}

const struct health_check_ops check_tcp_ops = {
    .name = "tcp",
    .start = tcp_start,
    .abort = tcp_abort,
};
