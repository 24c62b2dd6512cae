/* k3s check, against a K3s (or RKE2) server's supervisor port (K3s: 6443, RKE2: 9345).
 *
 * Without a token: GET /ping must answer "pong" (no credentials needed; the certificate is
 * verified only when health.tls.ca is given). With a token, as a joining node does
 * (k3s-io/k3s pkg/clientaccess/token.go): the server CA is first learnt from /cacerts (pinned
 * to the token's hash, or the system's store when that already trusts the server), then
 * GET /v1-k3s/readyz with the token's credentials must answer 200 over a connection verified
 * against it. With health.apiserver, the API server's own /readyz must pass too (apiserver.c). */
#include "health/http.h"

#include "common/log.h"
#include "tls/tls.h"
#include "tls/token.h"

#include <stdio.h>
#include <string.h>

static void k3s_readyz(struct health_probe *p);

/* K3s answers 429 when more than 20 agent requests are in flight (router.go's MaxInFlight):
 * the server is alive and shedding load; failing it would make many agents flap the servers
 * they protect. 401 and 403 are explained in the terms of K3s's users and groups. */
static void readyz_judge(struct health_probe *p, const struct health_http_response *r)
{
    const char *why = tls_k3s_refusal(r->status, (enum tls_k3s_cred)p->t->p.token_cred);
    if (r->status == 429) {
        health_probe_done(p, HEALTH_RESULT_BUSY, "HTTP 429 from %s: busy, state kept",
                          p->t->p.path);
        return;
    }
    if (why && (r->status == 401 || r->status == 403)) {
        health_probe_done(p, HEALTH_RESULT_BAD_STATUS, "HTTP %d from %s: %s", r->status,
                          p->t->p.path, why);
        return;
    }
    health_http_judge(p, r);
}

static void ping_judge(struct health_probe *p, const struct health_http_response *r)
{
    if (r->status == 200 && !p->t->p.expect_body && strncmp(r->body, "pong", 4) != 0) {
        health_probe_done(p, HEALTH_RESULT_BAD_BODY, "/ping answered without 'pong'");
        return;
    }
    health_http_judge(p, r);
}

/* How the CA came to be trusted, said once per target when it is not the token's hash. */
static void say_trust(const struct health_target *t, enum tls_k3s_trusted how)
{
    if (how == TLS_K3S_SYSTEM && t->p.token_hash)
        log_warn("server_ca",
                 "%s: the server's certificate is trusted by the system's CA store, so the "
                 "token's CA hash is not compared (as K3s's agent does)",
                 t->label);
    else if (how == TLS_K3S_UNVERIFIED)
        log_warn("server_ca",
                 "%s: the token has no CA hash, so the CA the server sent is trusted unchecked: "
                 "use the full token (K10<hash>::...) from the server's token file",
                 t->label);
}

static void cacerts_judge(struct health_probe *p, const struct health_http_response *r)
{
    struct health_target *t = p->t;
    enum tls_k3s_trusted how;
    char why[320];
    if (r->status != 200) {
        health_probe_done(p, HEALTH_RESULT_BAD_STATUS, "HTTP %d from /cacerts", r->status);
        return;
    }
    t->pinned = tls_k3s_trust(p->ssl, t->p.server_name, r->body, r->body_len, t->p.token_hash, &how,
                              why, sizeof(why));
    if (!t->pinned) {
        health_probe_done(p, HEALTH_RESULT_TLS_ERROR, "%s", why);
        return;
    }
    t->trusted = (int)how;
    say_trust(t, how);
    k3s_readyz(p);
}

static void k3s_readyz(struct health_probe *p)
{
    const struct health_params *hp = &p->t->p;
    bool pinned = p->t->pinned != NULL;
    if (pinned) {
        /* The learnt CA is now the trust anchor: verify chain and name against it. */
        p->t->p.verify = true;
    }
    health_http_get(p, pinned ? p->t->pinned : hp->tls, hp->path, hp->authorization, readyz_judge);
}

static void k3s_start(struct health_probe *p)
{
    const struct health_params *hp = &p->t->p;
    if (!hp->authorization)
        health_http_get(p, hp->tls, hp->path, NULL, ping_judge);
    else if ((hp->learn_ca || hp->token_hash) && !p->t->pinned)
        health_http_get_once(p, hp->tls, "/cacerts", cacerts_judge);
    else
        k3s_readyz(p);
}

const struct health_check_ops check_k3s_ops = {
    .name = "k3s",
    .start = k3s_start,
};
