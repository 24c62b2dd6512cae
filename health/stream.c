/* Probe streams over libevent bufferevents, plain or TLS (OpenSSL bufferevents): connect,
 * handshake, verify, SAN guard, and failures explained in words. */
#include "check.h"

#include "tls.h"

#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <string.h>

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
        if (p->ssl)
            health_tls_san_guard(p->ssl, p->t->label, (const char *const *)p->t->p.sans,
                                 p->t->p.n_sans, p->t->san_warning, sizeof(p->t->san_warning));
        p->cbs.ready(p);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        p->cbs.eof(p, bufferevent_get_input(bev));
        return;
    }
    if (p->ssl) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        if (e || SSL_get_verify_result(p->ssl) != X509_V_OK) {
            health_tls_explain(p->ssl, e, why, sizeof(why));
            ERR_clear_error();
            health_probe_done(p, HEALTH_RESULT_TLS_ERROR, "%s", why);
            return;
        }
    }
    health_probe_fail_errno(p, err ? err : ECONNRESET,
                            (what & BEV_EVENT_READING) ? "read" : "connect");
}

void health_stream_open(struct health_probe *p, SSL_CTX *ctx, const struct health_stream_cbs *cbs)
{
    const struct lb_sockaddr *sa = &p->t->addr;
    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;

    if (p->bev)
        bufferevent_free(p->bev);
    p->bev = NULL;
    p->ssl = NULL;
    p->cbs = *cbs;
    if (ctx) {
        p->ssl = health_tls_new(ctx, p->t->p.server_name, p->t->p.verify);
        if (!p->ssl) {
            health_probe_done(p, HEALTH_RESULT_LOCAL_ERROR, "cannot create a TLS session");
            return;
        }
        p->bev =
            bufferevent_openssl_socket_new(p->base, -1, p->ssl, BUFFEREVENT_SSL_CONNECTING, opts);
        if (p->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(p->bev, 1);
        else
            SSL_free(p->ssl);
    } else {
        p->bev = bufferevent_socket_new(p->base, -1, opts);
    }
    if (!p->bev) {
        p->ssl = NULL;
        health_probe_done(p, HEALTH_RESULT_LOCAL_ERROR, "cannot create a connection");
        return;
    }
    bufferevent_setcb(p->bev, on_read, NULL, on_event, p);
    bufferevent_enable(p->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(p->bev, &sa->u.sa, (int)sa->len) < 0)
        health_probe_fail_errno(p, errno ? errno : ECONNREFUSED, "connect");
}
