/* The API server's own readiness, the second request of a k3s or https probe.
 *
 * A K3s supervisor's /v1-k3s/readyz turns 200 once the server's core has started and stays 200
 * when its API server later loses the datastore; kube-apiserver's /readyz follows the datastore
 * (its etcd checks) and its own shutdown. So once the kind's own request has passed, a check
 * with health.apiserver asks /readyz as well, with the API server's credentials (K3s runs it
 * with --anonymous-auth=false), over the trust the first request established. What
 * kube-apiserver answers is read as its healthz handler writes it (k8s.io/apiserver
 * pkg/server/healthz/healthz.go, v0.36.3): 200 "ok", or 500 with one "[-]<check> failed:
 * reason withheld" line per failed check; its "shutdown" check fails from the stop signal on,
 * through --shutdown-delay-duration, while the server still serves. */
#include "health/http.h"

#include "tls/tls.h"

#include <stdio.h>
#include <string.h>

void health_readyz_failed(const char *body, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *l = body; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        const char *end;
        if (strncmp(l, "[-]", 3) != 0)
            continue;
        l += 3;
        end = l + strcspn(l, " \r\n");
        if (end == l || used >= len)
            continue;
        used +=
            (size_t)snprintf(out + used, len - used, "%s%.*s", used ? ", " : "", (int)(end - l), l);
    }
    if (used >= len && len > 4)
        memcpy(out + len - 4, "...", 4);
}

/* 401 and 403 from kube-apiserver: who it took the request for, and why that is not enough. */
static const char *refusal(const struct health_apiserver *a, int status)
{
    if (status == 401)
        return a->authorization ? "the API server does not accept the token (expired, deleted, "
                                  "or of another cluster)"
               : a->cert        ? "the API server does not accept the client certificate (not "
                                  "signed by the cluster's client CA)"
                                : "the API server does not admit anonymous requests to this path "
                                  "(AuthenticationConfiguration anonymous.conditions)";
    if (status == 403)
        return "the credentials are valid but may not read this path (RBAC: the "
               "system:public-info-viewer role grants it to everyone)";
    return NULL;
}

static void readyz_judge(struct health_probe *p, const struct health_http_response *r)
{
    const struct health_apiserver *a = &p->t->p.apiserver;
    char failed[160];
    const char *why = refusal(a, r->status);
    if (r->status == 200) {
        health_probe_done(p, HEALTH_RESULT_OK, "%s; API server %s: ok", p->note, a->path);
        return;
    }
    health_readyz_failed(r->body, failed, sizeof(failed));
    if (why)
        health_probe_done(p, HEALTH_RESULT_BAD_STATUS, "API server %s answered %d: %s", a->path,
                          r->status, why);
    else if (strstr(failed, "shutdown"))
        health_probe_done(p, HEALTH_RESULT_SHUTTING_DOWN,
                          "API server %s answered %d: it is shutting down (%s failed)", a->path,
                          r->status, failed);
    else
        health_probe_done(p, HEALTH_RESULT_BAD_STATUS,
                          "API server not ready: %s answered %d%s%s%s, while %s", a->path,
                          r->status, failed[0] ? " (" : "", failed, failed[0] ? " failed)" : "",
                          p->note);
}

/* The API server's context: the first request's trust, with its client certificate when it
 * has one (made again when that trust changes: a CA pinned anew). */
static SSL_CTX *apiserver_ctx(struct health_probe *p, SSL_CTX *trust, char *err, size_t len)
{
    struct health_target *t = p->t;
    if (!t->p.apiserver.cert)
        return trust;
    if (t->apiserver_ctx && t->apiserver_for == trust)
        return t->apiserver_ctx;
    if (t->apiserver_ctx)
        SSL_CTX_free(t->apiserver_ctx);
    t->apiserver_for = trust;
    t->apiserver_ctx =
        tls_ctx_with_client_cert(trust, t->p.apiserver.cert, t->p.apiserver.key, err, len);
    return t->apiserver_ctx;
}

void health_apiserver_after(struct health_probe *p, const char *passed)
{
    const struct health_apiserver *a = &p->t->p.apiserver;
    SSL_CTX *ctx;
    char err[320];
    if (!a->on) {
        health_probe_done(p, HEALTH_RESULT_OK, "%s", passed);
        return;
    }
    if (!(ctx = apiserver_ctx(p, p->pending_ctx, err, sizeof(err)))) {
        health_probe_done(p, HEALTH_RESULT_LOCAL_ERROR, "%s", err);
        return;
    }
    snprintf(p->note, sizeof(p->note), "%s", passed);
    p->port = a->port;
    health_http_get(p, ctx, a->path, a->authorization, readyz_judge);
}
