/* Turns a backend's health config into a target's parameters: fills the kind's defaults,
 * reads secrets, builds the TLS context. Runs at start and reload, on the main thread. */
#include "health/params.h"
#include "common/xalloc.h"

#include "config/keys.h"
#include "config/secret.h"
#include "tls/tls.h"
#include "tls/token.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void setup_error(struct health_params *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void setup_error(struct health_params *p, const char *fmt, ...)
{
    char buf[320];
    va_list ap;
    if (p->setup_error)
        return; /* the first problem is the one to fix */
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    p->setup_error = xstrdup(buf);
}

static char *read_secret(struct health_params *p, const char *file, const char *env,
                         const char *what)
{
    char why[320];
    char *secret = config_secret_read(file, env, what, why, sizeof(why));
    if (!secret)
        setup_error(p, "%s", why);
    return secret;
}

static void parse_k3s_token(struct health_params *p, const char *token)
{
    struct tls_k3s_token t;
    char why[160];
    if (tls_k3s_token_parse(token, &t, why, sizeof(why)) < 0) {
        setup_error(p, "%s", why);
        return;
    }
    p->token_hash = t.ca_hash; /* taken over; the rest is not needed by a probe */
    p->token_cred = (int)t.cred;
    p->authorization = t.authorization;
    t.ca_hash = t.authorization = NULL;
    tls_k3s_token_free(&t);
}

static void read_auth(struct health_params *p, const struct config_health *c)
{
    const struct config_auth *a = &c->auth;
    char *secret = NULL;
    if (c->kind == CONFIG_CHECK_K3S && (c->token_file || c->token_env)) {
        if ((secret = read_secret(p, c->token_file, c->token_env, "k3s token")))
            parse_k3s_token(p, secret);
    } else if (a->bearer_token_file || a->bearer_token_env) {
        if ((secret = read_secret(p, a->bearer_token_file, a->bearer_token_env, "bearer token")))
            p->authorization = tls_auth_bearer(secret);
    } else if (a->basic.user) {
        if ((secret = read_secret(p, a->basic.password_file, a->basic.password_env, "password")))
            p->authorization = tls_auth_basic(a->basic.user, strlen(a->basic.user), secret);
    }
    config_secret_free(secret);
}

static const char *default_path(const struct config_health *c)
{
    /* With a token a k3s check asks the route that needs one: it proves the token works. */
    if (c->kind == CONFIG_CHECK_K3S && (c->token_file || c->token_env))
        return "/v1-k3s/readyz";
    return config_check_kinds[c->kind].default_path;
}

static void build_tls(struct health_params *p, const struct config_health *c)
{
    char err[320];
    p->verify = c->tls.verify;
    if (c->kind == CONFIG_CHECK_K3S && !c->tls.ca) {
        /* The cluster CA is private: learnt from /cacerts (pinned to the token's hash) once a
         * token is given, else not verified. */
        p->verify = false;
        p->learn_ca = true;
        p->tls = tls_ctx_insecure();
    } else {
        p->tls = tls_ctx(&c->tls, err, sizeof(err));
        if (!p->tls)
            setup_error(p, "%s", err);
    }
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void build_db(struct health_params *p, const struct config_health *c)
{
    const struct config_database *d = &c->database;
    struct health_db *db = &p->db;
    if (!d->user)
        return;
    db->user = xstrdup(d->user);
    db->name = dup_or_null(d->name);
    db->ca = dup_or_null(c->tls.ca);
    db->cert = dup_or_null(c->tls.cert);
    db->key = dup_or_null(c->tls.key);
    db->sslmode = d->sslmode;
    db->role = d->role_required;
    db->galera = d->galera;
    if (d->password_file || d->password_env)
        db->password = read_secret(p, d->password_file, d->password_env, "database password");
}

static void build_apiserver(struct health_params *p, const struct config_apiserver *a)
{
    struct health_apiserver *ap = &p->apiserver;
    char *secret;
    if (!a->enabled)
        return;
    ap->on = true;
    ap->port = a->port;
    ap->path = xstrdup(a->path ? a->path : "/readyz");
    ap->cert = dup_or_null(a->cert);
    ap->key = dup_or_null(a->key);
    if ((a->bearer_token_file || a->bearer_token_env) &&
        (secret = read_secret(p, a->bearer_token_file, a->bearer_token_env, "API server token"))) {
        ap->authorization = tls_auth_bearer(secret);
        config_secret_free(secret);
    }
}

void health_params_build(struct health_params *p, const struct config_health *c,
                         const struct health_endpoint *ep)
{
    memset(p, 0, sizeof(*p));
    p->kind = c->kind;
    p->interval_ms = c->interval_ms;
    p->timeout_ms = c->timeout_ms;
    p->down_interval_ms = c->down_interval_ms;
    p->rise = c->rise;
    p->fall = c->fall;
    p->passive_fall = ep->passive_fall ? ep->passive_fall : c->fall;
    p->on_down = c->on_down;
    p->port = ep->check_port ? ep->check_port : c->port;
    p->check_address = dup_or_null(ep->check_address);
    /* Only a probe of the traffic port meets the PROXY header requirement there. */
    p->proxy_header = p->port || p->check_address ? 0 : ep->send_proxy;
    if (c->path || default_path(c)) /* only the kinds that speak HTTP have one */
        p->path = xstrdup(c->path ? c->path : default_path(c));
    p->n_expect_status = c->n_expect_status;
    p->expect_status = xmalloc((c->n_expect_status + 1) * sizeof(unsigned));
    if (c->n_expect_status)
        memcpy(p->expect_status, c->expect_status, c->n_expect_status * sizeof(unsigned));
    p->expect_body = c->expect_body ? xstrdup(c->expect_body) : NULL;
    if (c->tls.server_name || ep->host)
        p->server_name = xstrdup(c->tls.server_name ? c->tls.server_name : ep->host);
    p->n_sans = ep->n_sans;
    p->sans = xcalloc(ep->n_sans + 1, sizeof(char *));
    for (size_t i = 0; i < ep->n_sans; i++)
        p->sans[i] = xstrdup(ep->sans[i]);
    read_auth(p, c);
    build_db(p, c);
    build_apiserver(p, &c->apiserver);
    if (config_check_kinds[c->kind].uses_tls)
        build_tls(p, c);
}

void health_params_free(struct health_params *p)
{
    free(p->path);
    free(p->check_address);
    free(p->db.user);
    config_secret_free(p->db.password);
    free(p->db.name);
    free(p->db.ca);
    free(p->db.cert);
    free(p->db.key);
    free(p->expect_status);
    free(p->expect_body);
    config_secret_free(p->authorization);
    free(p->apiserver.path);
    config_secret_free(p->apiserver.authorization);
    free(p->apiserver.cert);
    free(p->apiserver.key);
    free(p->server_name);
    free(p->token_hash);
    free(p->setup_error);
    for (size_t i = 0; i < p->n_sans; i++)
        free(p->sans[i]);
    free(p->sans);
    if (p->tls)
        SSL_CTX_free(p->tls);
    memset(p, 0, sizeof(*p));
}

bool health_params_same_schedule(const struct health_params *a, const struct health_params *b)
{
    return a->kind == b->kind && a->interval_ms == b->interval_ms &&
           a->timeout_ms == b->timeout_ms && a->down_interval_ms == b->down_interval_ms;
}
