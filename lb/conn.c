/* The connection state machine: pick, connect, wait in the queue, forward, close. conn_drive()
 * and the stage drives it calls (here and in lb/conn_intro.c) are what change a connection's
 * state; event callbacks record what happened and call it. */
#include "lb/conn.h"
#include "lb/conn-int.h"
#include "common/clock.h"

#include "health/health.h"
#include "lb/balance.h"
#include "lb/forward.h"
#include "lb/queue.h"
#include "lb/server.h"
#include "lb/source.h"
#include "lb/view.h"
#include "common/log.h"
#include "common/net.h"
#include "common/proxyproto.h"
#include "common/tunnel.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LB_CONN_END_NAME(e, name, help) name,
const char *const lb_conn_end_names[] = {LB_CONN_ENDS(LB_CONN_END_NAME) NULL};
#undef LB_CONN_END_NAME

static void conn_drive(struct lb_conn *c, enum lb_conn_event ev);

static void side_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lb_conn *c = arg;
    struct lb_side *s = fd == c->cs.fd ? &c->cs : &c->ss;
    if (what & (EV_READ | EV_CLOSED))
        s->readable = true;
    if (what & EV_CLOSED)
        s->rdhup = true; /* the peer sent FIN: read on to the end, whatever the sizes */
    if (what & EV_WRITE)
        s->writable = true;
    conn_drive(c, LB_CONN_EV_IO);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_drive(arg, LB_CONN_EV_TIMER);
}

static void side_open(struct lb_conn *c, struct lb_side *s, int fd)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    event_assign(&s->ev, c->home->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 side_cb, c);
    event_add(&s->ev, NULL);
}

static void side_close(struct lb_side *s, bool reset)
{
    if (s->fd < 0)
        return;
    event_del(&s->ev);
    if (reset)
        net_close_reset(s->fd);
    else
        close(s->fd);
    s->fd = -1;
}

/* Gives up the current server assignment (after a failed connect, or at the end). */
static void conn_unassign(struct lb_conn *c)
{
    if (!c->server)
        return;
    atomic_fetch_sub_explicit(&c->server->c.active, 1, memory_order_relaxed);
    if (lb_server_maxconn(c->server))
        lb_queue_kick_head(c->pool->queue); /* a slot came free */
    c->server = NULL;
}

/* One line per finished connection: at info level for frontends with access_log, else at
 * debug. Fields are separate so the JSON format keeps them machine-readable. */
static void conn_log_end(struct lb_conn *c)
{
    enum log_level level = c->access_log ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
    char peer[NET_ADDRSTRLEN], up[24], down[24], ms[24], retries[12];
    const char *server = c->server_name ? c->server_name : "-";
    if (!log_enabled(level))
        return;
    net_format(&c->peer.sa, sizeof(c->peer), peer, sizeof(peer));
    snprintf(up, sizeof(up), "%llu", (unsigned long long)c->up.bytes);
    snprintf(down, sizeof(down), "%llu", (unsigned long long)c->down.bytes);
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(clock_now_ms() - c->start_ms));
    snprintf(retries, sizeof(retries), "%u", c->retries);
    const char *kv[] = {"client",     peer,    "frontend", c->front_name,
                        "server",     server,  "bytes_up", up,
                        "bytes_down", down,    "ms",       ms,
                        "retries",    retries, "end",      lb_conn_end_names[c->end],
                        NULL};
    log_fields(level, "access", kv, "%s -> %s: %s", peer, server, lb_conn_end_names[c->end]);
}

/* Releases everything; reset chooses RST instead of FIN on the sockets still open. */
void conn_finish(struct lb_conn *c, enum lb_conn_end end, bool reset)
{
    struct lb_conn_home *w = c->home;
    if (c->state == LB_CONN_QUEUED)
        lb_queue_leave(c->pool->queue, c);
    c->state = LB_CONN_CLOSED;
    c->end = end;
    conn_log_end(c);
    /* Counters first: whoever sees the sockets close and then asks /status sees them. */
    conn_unassign(c);
    if (c->src)
        lb_source_release(atomic_load(&c->front->src), c->src);
    atomic_fetch_sub_explicit(&c->front->active, 1, memory_order_relaxed);
    if (end == LB_END_NO_SERVER)
        atomic_fetch_add_explicit(&c->front->no_server, 1, memory_order_relaxed);
    side_close(&c->cs, reset);
    side_close(&c->ss, reset);
    event_del(&c->timer);
    lb_flow_release(w->bufs, &c->up);
    lb_flow_release(w->bufs, &c->down);
    balance_tried_reset(&c->tried);
    w->done(w, c); /* the owner takes the struct back: c is gone */
}

/* Starts a non-blocking connect to the server at pool index i. false when it failed at once. */
static bool conn_connect_to(struct lb_conn *c, size_t i)
{
    struct lb_server *s = c->pool->srv[i];
    struct net_sockaddr sa;
    int fd, rc;

    if (c->slot_held) { /* taken for it under the queue's lock */
        c->slot_held = false;
    } else if (!lb_server_take_slot(s)) { /* another worker took its last slot since the pick */
        errno = EBUSY;
        return false;
    }
    balance_tried_add(&c->tried, i);
    c->server = c->dialed = s;
    if (!c->retries)
        c->dial_us = clock_now_us();
    c->attempt_ms = clock_now_ms();
    c->server_name = s->address; /* lives as long as the view this connection holds */
    if (c->retries)
        atomic_fetch_add_explicit(&s->c.retries, 1, memory_order_relaxed);
    lb_server_addr(s, &sa);
    fd = socket(sa.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    net_tune(fd);
    rc = connect(fd, &sa.u.sa, sa.len);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        return false;
    }
    side_open(c, &c->ss, fd);
    struct timeval tv = conn_ms_to_tv(c->pool->cfg->connect_timeout_ms);
    event_add(&c->timer, &tv);
    return true;
}

/* Drops the connect in flight; the connection will try the next server. */
static void conn_abandon_connect(struct lb_conn *c)
{
    side_close(&c->ss, true);
    event_del(&c->timer);
    conn_unassign(c);
    c->retries++;
}

static void dial_observe(struct lb_dial_hist *h, uint64_t us)
{
    for (unsigned i = 0; i < LB_DIAL_BUCKETS; i++)
        if (us <= 1000ull << i) {
            atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

/* A connect failed (refused, timed out, unreachable): count it against the server. */
static void conn_connect_failed(struct lb_conn *c)
{
    struct lb_server *s = c->server;
    atomic_fetch_add_explicit(&s->c.connect_failures, 1, memory_order_relaxed);
    if (s->health)
        health_report_connect(s->health, false, c->attempt_ms);
    conn_abandon_connect(c);
}

/* Picks servers (the first is i, when not -1) until a connect is under way: LB_END_NONE, or
 * why the connection must end; *wait when it may rather wait for a slot (maxconn). */
static enum lb_conn_end conn_connect_next(struct lb_conn *c, int i, bool *wait)
{
    *wait = false;
    for (unsigned busy = 0;; i = -1) {
        if (i < 0)
            i = balance_pick(c->pool, c->bal, c->client_hash, &c->tried);
        if (i < 0 && balance_full(c->pool, &c->tried)) {
            *wait = true;
            return LB_END_NONE;
        }
        if (i < 0) {
            if (c->dialed) /* every try failed: one failed dial, counted on the last */
                dial_observe(&c->dialed->c.dial_err, clock_now_us() - c->dial_us);
            return LB_END_NO_SERVER;
        }
        if (conn_connect_to(c, (size_t)i))
            return LB_END_NONE;
        if (errno == EBUSY && ++busy <= c->pool->n)
            continue; /* full now: pick again, the pick passes it over */
        if (errno == EBUSY) {
            *wait = true;
            return LB_END_NONE;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
            conn_unassign(c); /* our own shortage, not the server's fault */
            return LB_END_LOCAL_ERROR;
        }
        conn_connect_failed(c);
    }
}

/* The server socket reported in while connecting: did the connect succeed? */
static bool conn_connected(struct lb_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (!c->ss.writable && !c->ss.readable)
        return false;
    /* A failed connect is reported with EPOLLERR, which always comes as readable too: writable
     * alone means connected, and the SO_ERROR query is needed only otherwise. */
    if (!c->ss.readable)
        return true;
    if (getsockopt(c->ss.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    errno = err;
    return err == 0 && c->ss.writable;
}

static void conn_arm_idle(struct lb_conn *c, uint64_t after_ms)
{
    struct timeval tv = conn_ms_to_tv(after_ms);
    event_add(&c->timer, &tv);
}

/* Moves bytes both ways; returns the next state. */
static enum lb_conn_state conn_pump(struct lb_conn *c, enum lb_conn_end *end)
{
    struct lb_conn_home *w = c->home;
    uint64_t moved_down = 0, moved_up = 0;
    enum lb_flow_status down = lb_forward(w->bufs, &c->down, &c->ss, &c->cs, &moved_down);
    enum lb_flow_status up = down == LB_FLOW_ERROR
                                 ? LB_FLOW_OPEN
                                 : lb_forward(w->bufs, &c->up, &c->cs, &c->ss, &moved_up);
    if (moved_down)
        atomic_fetch_add_explicit(&c->server->c.bytes_out, moved_down, memory_order_relaxed);
    if (moved_up)
        atomic_fetch_add_explicit(&c->server->c.bytes_in, moved_up, memory_order_relaxed);
    if (moved_down || moved_up)
        c->io_ms = clock_now_ms();
    if (down == LB_FLOW_ERROR || up == LB_FLOW_ERROR) {
        /* Whichever socket failed, the reset is passed on to the other. */
        if (c->cs.err == ENOMEM || c->ss.err == ENOMEM)
            *end = LB_END_LOCAL_ERROR;
        else
            *end = c->cs.err ? LB_END_CLIENT_RESET : LB_END_SERVER_RESET;
        return LB_CONN_CLOSED;
    }
    if (up == LB_FLOW_DONE && down == LB_FLOW_DONE) {
        *end = LB_END_CLOSED;
        return LB_CONN_CLOSED;
    }
    return up == LB_FLOW_DONE || down == LB_FLOW_DONE ? LB_CONN_HALF_CLOSED : LB_CONN_FORWARDING;
}

/* ---- maxconn: waiting in the queue --------------------------------------------------------- */

/* Waiting clients look again at least this often: a slot can also come free without a kick (a
 * server coming up, a reload raising maxconn). */
#define QUEUE_POLL_MS 100

static void queue_arm(struct lb_conn *c)
{
    uint64_t waited = clock_now_ms() - c->queued_ms, limit = c->pool->cfg->queue_timeout_ms;
    uint64_t left = waited < limit ? limit - waited : 0;
    struct timeval tv = conn_ms_to_tv(left < QUEUE_POLL_MS ? left : QUEUE_POLL_MS);
    event_add(&c->timer, &tv);
}

/* Puts the connection in its pool's queue: last, or first again when a slot it was given went
 * to another worker. LB_END_NONE, or LB_END_QUEUE_FULL. */
static enum lb_conn_end conn_enqueue(struct lb_conn *c, bool first)
{
    struct lb_queue *q = c->pool->queue;
    if (!lb_queue_add(q, c, first, c->pool->cfg->max_queue)) {
        atomic_fetch_add_explicit(&q->full, 1, memory_order_relaxed);
        return LB_END_QUEUE_FULL;
    }
    c->state = LB_CONN_QUEUED;
    if (!first) {
        atomic_fetch_add_explicit(&q->total, 1, memory_order_relaxed);
        c->queued_ms = clock_now_ms();
    }
    queue_arm(c);
    return LB_END_NONE;
}

/* Starts the connection's next connect (the first at i, when not -1), waiting in the queue if
 * every server that could take it is full; ends it when that fails. */
static void conn_dispatch(struct lb_conn *c, int i, bool first)
{
    bool wait;
    enum lb_conn_end end;
    c->state = LB_CONN_CONNECTING;
    end = conn_connect_next(c, i, &wait);
    if (wait)
        end = conn_enqueue(c, first);
    if (end != LB_END_NONE)
        conn_finish(c, end, false);
}

/* The pick of the oldest waiting client, under the queue's lock: a server whose slot it now
 * holds, -1 (none is left: no_server), or -2: all still full, it waits on. */
static int queue_pick(struct lb_conn *c)
{
    int i = balance_pick(c->pool, c->bal, c->client_hash, &c->tried);
    if (i < 0)
        return balance_full(c->pool, &c->tried) ? -2 : -1;
    /* The slot is taken here, under the lock: the next in line, kicked as soon as c leaves,
     * must not take it first (FIFO across workers). */
    if (!lb_server_take_slot(c->pool->srv[i]))
        return -2;
    c->slot_held = true;
    return i;
}

/* The oldest waiting client takes a slot when there is one; the others wait their turn. true
 * when c still waits; false when it left (c may be gone then: its view too). */
static bool queue_try(struct lb_conn *c)
{
    struct lb_queue *q = c->pool->queue;
    int i = lb_queue_pop_if_head(q, c, queue_pick);
    if (i == -2)
        return true;
    event_del(&c->timer);
    lb_queue_kick_head(q); /* the next one may find a slot too (before c, and its view, may go) */
    conn_dispatch(c, i, true);
    return false;
}

static void drive_queued(struct lb_conn *c, enum lb_conn_event ev)
{
    if (ev == LB_CONN_EV_TIMER && clock_now_ms() - c->queued_ms >= c->pool->cfg->queue_timeout_ms) {
        atomic_fetch_add_explicit(&c->pool->queue->timeouts, 1, memory_order_relaxed);
        conn_finish(c, LB_END_QUEUE_TIMEOUT, false);
        return;
    }
    if ((ev == LB_CONN_EV_TIMER || ev == LB_CONN_EV_KICK) && queue_try(c) && ev == LB_CONN_EV_TIMER)
        queue_arm(c);
    /* IO: the client's bytes wait for forwarding (a client that goes away waits its turn) */
}

void lb_conn_home_kick(struct lb_conn_home *home)
{
    atomic_store(&home->kick_pending, false);
    for (struct lb_conn *c = home->queued, *next; c; c = next) {
        next = c->hnext;
        conn_drive(c, LB_CONN_EV_KICK);
    }
}

/* Picks the next server; ends the connection when none is left. A new client does not overtake
 * the ones already waiting. */
void conn_retry(struct lb_conn *c)
{
    if (!c->dialed && atomic_load_explicit(&c->pool->queue->n, memory_order_relaxed)) {
        enum lb_conn_end end = conn_enqueue(c, false);
        if (end != LB_END_NONE)
            conn_finish(c, end, false);
        return;
    }
    conn_dispatch(c, -1, false);
}

/* The proxy's answer to CONNECT arrived (or part of it): true once the tunnel is up. */
static bool conn_tunnel_answered(struct lb_conn *c, bool *failed)
{
    char why[200];
    int r = tunnel_recv(c->ss.fd, why, sizeof(why));
    *failed = r < 0;
    if (r < 0)
        log_debug("proxy", "%s: %s", c->server->address, why);
    c->ss.readable = r > 0; /* 0: wait for the next edge; after the answer, read on */
    return r > 0;
}

/* ---- to the server ------------------------------------------------------------------------- */

/* The server expects a PROXY header first: the client's address and the one it reached. A
 * fresh socket's buffer takes it whole; false when it did not. */
static bool conn_send_header(struct lb_conn *c, int version)
{
    unsigned char buf[PROXYPROTO_BUILD_MAX];
    socklen_t len = sizeof(c->local);
    size_t n;
    if (!c->have_local && getsockname(c->cs.fd, (struct sockaddr *)&c->local, &len) == 0)
        c->have_local = true;
    n = proxyproto_build(version, &c->peer.sa,
                         c->have_local ? (const struct sockaddr *)&c->local : NULL, buf);
    return send(c->ss.fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static void drive_connecting(struct lb_conn *c, enum lb_conn_event ev)
{
    bool failed = false;
    if (ev == LB_CONN_EV_KILL) {
        if (c->end != LB_END_KILLED) {
            conn_finish(c, c->end, true);
            return;
        }
        /* Its server went down before answering: nothing was sent yet, so try another. */
        conn_abandon_connect(c);
        c->end = LB_END_NONE;
        ev = LB_CONN_EV_START;
    } else if (ev == LB_CONN_EV_IO && c->state == LB_CONN_TUNNELING) {
        if (!c->ss.readable || !conn_tunnel_answered(c, &failed)) {
            if (!failed)
                return;
            conn_connect_failed(c);
            ev = LB_CONN_EV_START;
        }
    } else if (ev == LB_CONN_EV_IO) {
        if (!c->ss.writable && !c->ss.readable)
            return; /* only the client stirred; its flags wait for forwarding */
        if (!conn_connected(c)) {
            conn_connect_failed(c);
            ev = LB_CONN_EV_START;
        }
    } else if (ev == LB_CONN_EV_TIMER) {
        conn_connect_failed(c);
        ev = LB_CONN_EV_START;
    }
    if (ev == LB_CONN_EV_START) {
        conn_retry(c);
        return;
    }
    if (c->state == LB_CONN_CONNECTING && c->server->tunnel_target) {
        /* Connected to the proxy: ask it for the server (the connect timeout still runs). */
        if (tunnel_send(c->ss.fd, c->server->tunnel_target, c->server->tunnel_auth) != 0) {
            conn_connect_failed(c);
            conn_retry(c);
            return;
        }
        c->state = LB_CONN_TUNNELING;
        c->ss.readable = false;
        return;
    }
    /* Connected (through the proxy, when there is one). */
    int header = atomic_load_explicit(&c->server->send_proxy, memory_order_relaxed);
    if (header != CONFIG_SEND_PROXY_NONE && !conn_send_header(c, header)) {
        conn_connect_failed(c);
        conn_retry(c);
        return;
    }
    event_del(&c->timer);
    atomic_fetch_add_explicit(&c->server->c.total, 1, memory_order_relaxed);
    dial_observe(&c->server->c.dial_ok, clock_now_us() - c->dial_us);
    if (c->server->health)
        health_report_connect(c->server->health, true, c->attempt_ms);
    c->state = LB_CONN_FORWARDING;
    c->io_ms = clock_now_ms();
    if (c->pool->cfg->idle_timeout_ms)
        conn_arm_idle(c, c->pool->cfg->idle_timeout_ms);
    conn_drive(c, LB_CONN_EV_IO);
}

static void drive_forwarding(struct lb_conn *c, enum lb_conn_event ev)
{
    enum lb_conn_end end = LB_END_NONE;
    enum lb_conn_state next;

    if (ev == LB_CONN_EV_TIMER) {
        uint64_t idle = c->pool->cfg->idle_timeout_ms, quiet = clock_now_ms() - c->io_ms;
        if (quiet >= idle) {
            conn_finish(c, LB_END_IDLE_TIMEOUT, false);
            return;
        }
        conn_arm_idle(c, idle - quiet);
        return;
    }
    next = conn_pump(c, &end);
    if (next == LB_CONN_CLOSED)
        conn_finish(c, end, end != LB_END_CLOSED);
    else
        c->state = next;
}

static void conn_drive(struct lb_conn *c, enum lb_conn_event ev)
{
    if (ev == LB_CONN_EV_KILL && c->state != LB_CONN_CLOSED && c->state != LB_CONN_CONNECTING &&
        c->state != LB_CONN_TUNNELING) {
        conn_finish(c, c->end, true);
        return;
    }
    switch (c->state) {
    case LB_CONN_HEADER:
        conn_drive_header(c, ev);
        break;
    case LB_CONN_HELLO:
        conn_drive_hello(c, ev);
        break;
    case LB_CONN_QUEUED:
        drive_queued(c, ev);
        break;
    case LB_CONN_CONNECTING:
    case LB_CONN_TUNNELING:
        drive_connecting(c, ev);
        break;
    case LB_CONN_FORWARDING:
    case LB_CONN_HALF_CLOSED:
        drive_forwarding(c, ev);
        break;
    case LB_CONN_CLOSED:
        break;
    }
}

void lb_conn_kill(struct lb_conn *c, enum lb_conn_end why)
{
    c->end = why;
    conn_drive(c, LB_CONN_EV_KILL);
}

void lb_conn_start(struct lb_conn *c, const struct lb_view *v, const struct lb_view_front *vf,
                   struct balance_state *bals, int fd, const struct sockaddr *peer,
                   socklen_t peer_len)
{
    struct lb_conn_home *w = c->home;

    c->front = vf->front;
    c->view = v;
    c->bals = bals;
    c->front_index = (size_t)(vf - v->fronts);
    c->pool = vf->pool < v->n_pools ? &v->pools[vf->pool] : NULL;
    c->bal = vf->pool < v->n_pools ? &bals[vf->pool] : NULL;
    c->have_local = false;
    c->state = vf->cfg->accept_proxy ? LB_CONN_HEADER : LB_CONN_CONNECTING;
    c->access_log = vf->cfg->access_log;
    c->front_name = vf->cfg->name;
    c->start_ms = clock_now_ms();
    memcpy(&c->peer, peer, peer_len < sizeof(c->peer) ? peer_len : sizeof(c->peer));
    c->client_hash = net_addr_hash(peer);
    side_open(c, &c->cs, fd); /* tuned already: options come from the listening socket */
    evtimer_assign(&c->timer, w->base, timer_cb, c);
    atomic_fetch_add_explicit(&c->front->active, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->front->total, 1, memory_order_relaxed);
    if (c->state == LB_CONN_HEADER) { /* the client speaks first, within proxy_timeout */
        struct timeval tv = conn_ms_to_tv(vf->cfg->proxy_timeout_ms);
        event_add(&c->timer, &tv);
        return;
    }
    conn_after_header(c);
}
