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
    (void)bev;
    (void)what;
    health_stream_drop_kept(t);
}

static void kept_read(struct bufferevent *bev, void *arg)
{
    kept_event(bev, 0, arg);
}

void health_stream_drop_kept(struct health_target *t)
{
    if (t->kept)
        bufferevent_free(t->kept);
    t->kept = NULL;
    t->kept_ctx = NULL;
}

void health_stream_keep(struct health_probe *p)
{
    struct health_target *t = p->t;
    if (!p->bev)
        return;
    health_stream_drop_kept(t);
    t->kept = p->bev;
    t->kept_ctx = p->pending_ctx;
    p->bev = NULL;
    p->ssl = NULL;
    bufferevent_setcb(t->kept, kept_read, NULL, kept_event, t);
}

void health_stream_open(struct health_probe *p, SSL_CTX *ctx, const struct health_stream_cbs *cbs,
                        bool reuse)
{
    int err;
    struct health_target *t = p->t;
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
    if (reuse && t->kept && t->kept_ctx == ctx) {
        p->bev = t->kept; /* its TLS state comes along: no handshake */
        t->kept = NULL;
        t->kept_ctx = NULL;
        p->reused = p->connected = true;
        bufferevent_setcb(p->bev, on_read, NULL, on_event, p);
        bufferevent_enable(p->bev, EV_READ | EV_WRITE);
        p->cbs.ready(p);
        return;
    }
    health_stream_drop_kept(t); /* another context (or none wanted): it will not serve */
    err = health_probe_connect(p);
    if (err) {
        health_probe_fail_errno(p, err, "connect");
        return;
    }
    /* The TCP connect is done by the engine rather than by the bufferevent, so a refused or
     * unreachable server is reported with its exact errno; TLS starts once it is up. */
    health_probe_await_connect(p, stream_begin);
}
