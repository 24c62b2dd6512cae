/* What a connection waits for before it picks a server: the PROXY protocol header of a proxy in
 * front (accept_proxy), then the server name of the client's TLS hello (routes). Both are
 * peeked, so that only the header is consumed and the hello goes on to the server untouched.
 * Part of the connection state machine (lb/conn.c), through lb/conn-int.h. */
#include "lb/conn-int.h"
#include "common/clock.h"

#include "lb/route.h"
#include "lb/view.h"
#include "common/log.h"
#include "common/net.h"
#include "common/proxyproto.h"
#include "common/tlshello.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>

/* ---- accept_proxy: the client's PROXY protocol header ------------------------------------- */

/* One line per bad header, at most one a second per worker: a client (or a scanner) that
 * speaks something else to a PROXY port cannot flood the log. */
static void header_refused(struct lb_conn *c, const char *why)
{
    static _Thread_local struct log_rate rate;
    const char *more;
    char peer[NET_ADDRSTRLEN];
    atomic_fetch_add_explicit(&c->front->bad_header, 1, memory_order_relaxed);
    if (log_rate_allow(&rate, clock_now_ms(), &more)) {
        net_format(&c->peer.sa, sizeof(c->peer), peer, sizeof(peer));
        log_warn("bad_proxy_header", "%s: %s from %s: closed%s", c->front_name, why, peer, more);
    }
    conn_finish(c, LB_END_BAD_HEADER, false);
}

/* The header's addresses become the connection's: the client's for balancing, logs and the
 * header k3lb may send on; the reached one for that header. */
static void header_adopt(struct lb_conn *c, const struct proxyproto_addrs *a)
{
    if (!a->has)
        return; /* LOCAL or UNKNOWN: the proxy's own connection keeps its addresses */
    memcpy(&c->peer, &a->src, sizeof(c->peer));
    memcpy(&c->local, &a->dst, sizeof(c->local));
    c->have_local = true;
    c->client_hash = net_addr_hash(&c->peer.sa);
}

/* Peeks at what the client sent: the header is consumed only once it is whole and valid, so
 * the bytes after it stay in the socket for forwarding. */
static void header_read(struct lb_conn *c)
{
    unsigned char buf[PROXYPROTO_MAX];
    struct proxyproto_addrs a;
    char why[160];
    size_t used;
    ssize_t n = recv(c->cs.fd, buf, sizeof(buf), MSG_PEEK);
    enum proxyproto_status st;

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        c->cs.readable = false;
        return;
    }
    if (n < 0) {
        conn_finish(c, LB_END_CLIENT_RESET, true);
        return;
    }
    st = proxyproto_parse(buf, (size_t)n, &a, &used, why, sizeof(why));
    if (st == PROXYPROTO_MORE && (n == 0 || c->cs.rdhup)) {
        header_refused(c, n ? "connection closed inside the PROXY header"
                            : "connection closed before a PROXY header");
        return;
    }
    if (st == PROXYPROTO_MORE) {
        c->cs.readable = false; /* the next edge brings more */
        return;
    }
    if (st == PROXYPROTO_BAD || recv(c->cs.fd, buf, used, 0) != (ssize_t)used) {
        header_refused(c, st == PROXYPROTO_BAD ? why : "the PROXY header could not be read");
        return;
    }
    header_adopt(c, &a);
    event_del(&c->timer);
    conn_after_header(c); /* readable stays set: bytes after the header wait */
}

/* Its timer runs from lb_conn_start: the header's deadline. */
void conn_drive_header(struct lb_conn *c, enum lb_conn_event ev)
{
    if (ev == LB_CONN_EV_TIMER) {
        header_refused(c, "no complete PROXY header in time");
        return;
    }
    if (c->cs.readable)
        header_read(c);
}

/* ---- routes: the server name of the client's TLS hello ------------------------------------ */

/* Sends the connection to backend b of its view (n_pools: none, closed); routed: a route
 * took it, else it is the default's (counted as unrouted). */
static void conn_route(struct lb_conn *c, size_t b, bool routed, const char *name, const char *why)
{
    if (log_enabled(LOG_LEVEL_DEBUG)) {
        char peer[NET_ADDRSTRLEN];
        net_format(&c->peer.sa, sizeof(c->peer), peer, sizeof(peer));
        log_debug("route", "%s: %s asked for '%s'%s%s: %s", c->front_name, peer, name,
                  *why ? ", " : "", why,
                  b < c->view->n_pools ? c->view->cfg->backends[b].name : "no backend, closed");
    }
    event_del(&c->timer);
    if (b >= c->view->n_pools) {
        atomic_fetch_add_explicit(&c->front->no_route, 1, memory_order_relaxed);
        conn_finish(c, LB_END_NO_ROUTE, false);
        return;
    }
    if (!routed)
        atomic_fetch_add_explicit(&c->front->unrouted, 1, memory_order_relaxed);
    c->pool = &c->view->pools[b];
    c->bal = &c->bals[b];
    conn_retry(c);
}

/* Peeks at what the client sent so far: nothing is consumed, the hello goes to the server. */
static void hello_read(struct lb_conn *c, const struct config_frontend *f)
{
    unsigned char buf[TLSHELLO_PEEK];
    char name[TLSHELLO_NAME_MAX];
    const char *why = "";
    ssize_t n = recv(c->cs.fd, buf, sizeof(buf), MSG_PEEK);
    bool routed;
    size_t b;

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        c->cs.readable = false;
        return;
    }
    if (n <= 0) { /* closed or reset before a whole hello: nobody to serve */
        conn_finish(c, n ? LB_END_CLIENT_RESET : LB_END_CLOSED, n != 0);
        return;
    }
    if (tlshello_parse(buf, (size_t)n, name, &why) == TLSHELLO_MORE) {
        if (c->cs.rdhup) {
            conn_finish(c, LB_END_CLOSED, false);
            return;
        }
        c->cs.readable = false; /* the next edge brings more */
        return;
    }
    b = lb_route_pick(f, name, &routed);
    conn_route(c, b, routed, name, why);
}

/* Its timer runs from the header or the accept: the hello's deadline. A client silent that long
 * may be one whose server speaks first: the default backend takes it. */
void conn_drive_hello(struct lb_conn *c, enum lb_conn_event ev)
{
    const struct config_frontend *f = &c->view->cfg->frontends[c->front_index];
    if (ev == LB_CONN_EV_TIMER) {
        conn_route(c, f->backend_index, false, "", "no hello in time");
        return;
    }
    if (c->cs.readable)
        hello_read(c, f);
}

/* After the PROXY header, or at once: routing, or the frontend's one backend. */
void conn_after_header(struct lb_conn *c)
{
    const struct config_frontend *f = &c->view->cfg->frontends[c->front_index];
    if (!f->n_routes) {
        conn_retry(c);
        return;
    }
    c->state = LB_CONN_HELLO;
    struct timeval tv = conn_ms_to_tv(f->hello_timeout_ms);
    event_add(&c->timer, &tv);
    if (c->cs.readable)
        hello_read(c, f);
}
