/* tls check: the TLS handshake succeeds and, with verify, the certificate chains to the CA and
 * covers the server's name. Catches an expired or wrong certificate that tcp cannot see. */
#include "health/check.h"

static void tls_ready(struct health_probe *p)
{
    health_probe_done(p, HEALTH_RESULT_OK, "TLS handshake completed (%s)", SSL_get_version(p->ssl));
}

static void tls_eof(struct health_probe *p, struct evbuffer *in)
{
    (void)in;
    health_probe_done(p, HEALTH_RESULT_RESET, "closed during the TLS handshake");
}

static void tls_start(struct health_probe *p)
{
    static const struct health_stream_cbs cbs = {.ready = tls_ready, .eof = tls_eof};
    health_stream_open(p, p->t->p.tls, &cbs, false);
}

const struct health_check_ops check_tls_ops = {
    .name = "tls",
    .start = tls_start,
};
