/* k3s check, against a K3s server's supervisor port (6443).
 *
 * Without a token: GET /ping must answer "pong" (no credentials needed; the certificate is
 * verified only when health.tls.ca is given). With a token: the server CA is first fetched from
 * /cacerts and pinned to the token's hash (K10<hash>::...), as a joining node does, then
 * GET /v1-k3s/readyz with the token's credentials must answer 200 over a connection verified
 * against that CA. */
#include "health/http.h"

#include "tls/tls.h"
#include "tls/token.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void k3s_readyz(struct health_probe *p);

/* K3s answers 429 when more than 20 agent requests are in flight (router.go's MaxInFlight):
 * the server is alive and shedding load; failing it would make many agents flap the servers
 * they protect. */
static void readyz_judge(struct health_probe *p, const struct health_http_response *r)
{
    if (r->status == 429) {
        health_probe_done(p, HEALTH_RESULT_BUSY, "HTTP 429 from %s: busy, state kept",
                          p->t->p.path);
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

static void cacerts_judge(struct health_probe *p, const struct health_http_response *r)
{
    struct health_target *t = p->t;
    char hex[65], err[256];
    if (r->status != 200) {
        health_probe_done(p, HEALTH_RESULT_BAD_STATUS, "HTTP %d from /cacerts", r->status);
        return;
    }
    tls_sha256_hex(r->body, r->body_len, hex);
    if (strcasecmp(hex, t->p.token_hash) != 0) {
        health_probe_done(p, HEALTH_RESULT_TLS_ERROR,
                          "the server's CA does not match the token's hash: wrong cluster, or "
                          "wrong token");
        return;
    }
    t->pinned = tls_ctx_from_pem(r->body, r->body_len, err, sizeof(err));
    if (!t->pinned) {
        health_probe_done(p, HEALTH_RESULT_TLS_ERROR, "%s", err);
        return;
    }
    k3s_readyz(p);
}

static void k3s_readyz(struct health_probe *p)
{
    const struct health_params *hp = &p->t->p;
    bool pinned = p->t->pinned != NULL;
    if (pinned) {
        /* The pinned CA is now the trust anchor: verify chain and name against it. */
        p->t->p.verify = true;
    }
    health_http_get(p, pinned ? p->t->pinned : hp->tls, hp->path, hp->authorization, readyz_judge);
}

static void k3s_start(struct health_probe *p)
{
    const struct health_params *hp = &p->t->p;
    if (!hp->authorization)
        health_http_get(p, hp->tls, hp->path, NULL, ping_judge);
    else if (hp->token_hash && !p->t->pinned)
        health_http_get(p, hp->tls, "/cacerts", NULL, cacerts_judge);
    else
        k3s_readyz(p);
}

const struct health_check_ops check_k3s_ops = {
    .name = "k3s",
    .start = k3s_start,
};
