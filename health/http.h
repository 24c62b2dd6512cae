/* One HTTP/1.1 GET over a probe stream, shared by the http, https, k3s and etcd kinds.
 * Internal to health/. */
#ifndef K3LB_HEALTH_HTTP_H
#define K3LB_HEALTH_HTTP_H

#include "health/check.h"

#define HEALTH_HTTP_MAX (64 * 1024) /* a health answer larger than this is wrong */

struct health_http_response {
    int status;       /* e.g. 200 */
    const char *body; /* NUL-terminated, dechunked */
    size_t body_len;
};

/* Parses an answer held in buf (len bytes plus a NUL, modified in place): 1 when complete
 * (r points into buf), 0 when more is needed, -1 when it is not HTTP. at_eof: the server has
 * closed, so what is there is all there will be. */
int health_http_parse(char *buf, size_t len, bool at_eof, struct health_http_response *r);

/* Called with the parsed response; the callee reports the probe's result. */
typedef void (*health_http_done)(struct health_probe *p, const struct health_http_response *r);

/* Sends "GET path" (with the Authorization header when auth is set) over a new stream (TLS when
 * ctx) and calls done with the answer. Transport and parse failures are reported here. */
void health_http_get(struct health_probe *p, SSL_CTX *ctx, const char *path, const char *auth,
                     health_http_done done);

/* The same without credentials on a connection of its own that is closed after the answer, so
 * that done still sees the TLS state it came over (p->ssl): K3s's /cacerts, whose connection
 * the requests after it cannot use. */
void health_http_get_once(struct health_probe *p, SSL_CTX *ctx, const char *path,
                          health_http_done done);

/* The common verdict: status in expect_status, then expect_body. A failure is reported here;
 * true when the answer passes (nothing reported yet). */
bool health_http_verdict(struct health_probe *p, const struct health_http_response *r);
/* The verdict, then OK, or on to the API server's /readyz when the check asks it too. */
void health_http_judge(struct health_probe *p, const struct health_http_response *r);

/* apiserver.c: once the kind's own request passed (passed says how), reports OK, or asks the
 * API server's /readyz first when health.apiserver is set, over the same trust. */
void health_apiserver_after(struct health_probe *p, const char *passed);
/* The names of the checks a kube-apiserver /readyz answer says failed ("[-]etcd failed: ..."),
 * comma-separated into out ("" when none); cut with "..." when they do not fit. */
void health_readyz_failed(const char *body, char *out, size_t len);

#endif
