/* Probe streams over libevent bufferevents, plain or TLS (OpenSSL bufferevents): connect,
 * handshake, verify, SAN guard, and failures explained in words. */
#include "health/check.h"

#include "tls/tls.h"

#include "common/net.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <string.h>
#include <sys/socket.h>

static void on_read(struct bufferevent *bev, void *arg)
{
    struct health_probe *p = arg;
    if (p->cbs.data)
        p->cbs.data(p, bufferevent_get_input(bev));
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct health_probe *p = arg;
    int err = EVUTIL_SOCKET_ERROR();
    char why[256];

    if (what & BEV_EVENT_CONNECTED) {
        p->connected = true;
        if (p->ssl)
            tls_san_guard(p->ssl, p->t->label, (const char *const *)p->t->p.sans, p->t->p.n_sans,
                          p->t->san_warning, sizeof(p->t->san_warning));
        p->cbs.ready(p);
        return;
    }
    if (p->reused && evbuffer_get_length(bufferevent_get_input(bev)) == 0) {
        /* A kept connection the server has closed meanwhile (its idle timeout): nothing was
         * answered, so nothing is known. Ask again on a fresh connection. */
        health_stream_open(p, p->pending_ctx, &p->cbs, false);
        return;
    }
    if ((what & BEV_EVENT_EOF) && p->connected) {
        p->cbs.eof(p, bufferevent_get_input(bev));
        return;
    }
    if (!p->connected) {
        /* The TCP connection was up (see stream_begin): this is the TLS handshake failing. */
        if (what & BEV_EVENT_EOF) {
            health_probe_done(p, HEALTH_RESULT_RESET, "closed during the %s",
                              p->ssl ? "TLS handshake" : "connect");
            return;
        }
    }
    if (p->ssl) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        if (e || SSL_get_verify_result(p->ssl) != X509_V_OK) {
            tls_explain(p->ssl, e, why, sizeof(why));
            ERR_clear_error();
            health_probe_done(p, HEALTH_RESULT_TLS_ERROR, "%s", why);
            return;
        }
    }
    health_probe_fail_errno(p, err ? err : ECONNRESET,
                            (what & BEV_EVENT_READING) ? "read" : "connect");
}

/* The stream on the connected socket (past a proxy's CONNECT): TLS starts here. */
static void stream_begin(struct health_probe *p)
{
    SSL_CTX *ctx = p->pending_ctx;
    int fd = p->fd, opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    if (ctx) {
        p->ssl = tls_new(ctx, p->t->p.server_name, p->t->p.verify);
        p->bev = p->ssl ? bufferevent_openssl_socket_new(p->base, fd, p->ssl,
                                                         BUFFEREVENT_SSL_CONNECTING, opts)
                        : NULL;
        if (p->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(p->bev, 1);
        else if (p->ssl)
            SSL_free(p->ssl);
    } else {
        p->bev = bufferevent_socket_new(p->base, fd, opts);
    }
    if (!p->bev) {
        p->ssl = NULL;
        health_probe_done(p, HEALTH_RESULT_NO_RESOURCES, "cannot create a connection");
        return;
    }
    p->fd = -1; /* the bufferevent owns the socket now */
    bufferevent_setcb(p->bev, on_read, NULL, on_event, p);
    bufferevent_enable(p->bev, EV_READ | EV_WRITE);
    if (!ctx)
        on_event(p->bev, BEV_EVENT_CONNECTED, p); /* plain: up already */
}

/* Something happened on a kept connection between probes: the server closed it, or sent what
 * nobody asked for. Either way it is of no more use. */
static void kept_event(struct bufferevent *bev, short what, void *arg)
{
    struct health_target *t = arg;
    (void)what;
    for (int i = 0; i < HEALTH_KEPT; i++)
        if (t->kept[i].bev == bev) {
            bufferevent_free(bev);
            t->kept[i] = (struct health_kept){0};
        }
}

static void kept_read(struct bufferevent *bev, void *arg)
{
    kept_event(bev, 0, arg);
}

void health_stream_drop_kept(struct health_target *t)
{
    for (int i = 0; i < HEALTH_KEPT; i++) {
        if (t->kept[i].bev)
            bufferevent_free(t->kept[i].bev);
        t->kept[i] = (struct health_kept){0};
    }
}

/* The slot for a connection opened with ctx to port: its own, else a free one, else the
 * first (the older one goes). */
static struct health_kept *kept_slot(struct health_target *t, SSL_CTX *ctx, unsigned port)
{
    struct health_kept *free_slot = NULL;
    for (int i = 0; i < HEALTH_KEPT; i++) {
        if (t->kept[i].bev && t->kept[i].ctx == ctx && t->kept[i].port == port)
            return &t->kept[i];
        if (!t->kept[i].bev && !free_slot)
            free_slot = &t->kept[i];
    }
    return free_slot ? free_slot : &t->kept[0];
}

static unsigned stream_port(const struct health_probe *p)
{
    return p->port ? p->port : p->t->p.port;
}

void health_stream_keep(struct health_probe *p)
{
    struct health_target *t = p->t;
    struct health_kept *k;
    if (!p->bev)
        return;
    k = kept_slot(t, p->pending_ctx, stream_port(p));
    if (k->bev)
        bufferevent_free(k->bev);
    *k = (struct health_kept){p->bev, p->pending_ctx, stream_port(p)};
    p->bev = NULL;
    p->ssl = NULL;
    bufferevent_setcb(k->bev, kept_read, NULL, kept_event, t);
}

void health_stream_open(struct health_probe *p, SSL_CTX *ctx, const struct health_stream_cbs *cbs,
                        bool reuse)
{
    int err;
    struct health_kept *k = kept_slot(p->t, ctx, stream_port(p));
    if (p->bev)
        bufferevent_free(p->bev);
    if (p->io)
        event_free(p->io);
    if (p->fd >= 0)
        net_close_reset(p->fd);
    p->bev = NULL;
    p->io = NULL;
    p->fd = -1;
    p->ssl = NULL;
    p->connected = false;
    p->cbs = *cbs;
    p->pending_ctx = ctx;
    p->reused = false;
    if (reuse && k->bev && k->ctx == ctx && k->port == stream_port(p)) {
        p->bev = k->bev; /* its TLS state comes along: no handshake */
        *k = (struct health_kept){0};
        p->reused = p->connected = true;
        bufferevent_setcb(p->bev, on_read, NULL, on_event, p);
        bufferevent_enable(p->bev, EV_READ | EV_WRITE);
        p->cbs.ready(p);
        return;
    }
    err = health_probe_connect(p);
    if (err) {
        health_probe_fail_errno(p, err, "connect");
        return;
    }
    /* The TCP connect is done by the engine rather than by the bufferevent, so a refused or
     * unreachable server is reported with its exact errno; TLS starts once it is up. */
    health_probe_await_connect(p, stream_begin);
}
