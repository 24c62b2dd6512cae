/* Warnings about checks that load but cannot pass against a real K3s server, or trust less than
 * they seem to, from what K3s admits to each route (tls_k3s_route_of) and the token's form. They
 * need the token itself, so they are given once the config is built (k3lb check, serve, and
 * every reload), and a token that cannot be read here is left to the probes to report. */
#include "health/health.h"

#include "config/keys.h"
#include "config/node.h"
#include "config/secret.h"
#include "tls/token.h"

#include <stdio.h>
#include <string.h>

/* The path a k3s check asks with its token presents user node (or a bootstrap token). */
static void k3s_path_advice(const struct config_backend *b, const char *path, struct config_mark at,
                            struct config_errors *errs)
{
    switch (tls_k3s_route_of(path)) {
    case TLS_K3S_ROUTE_APISERVER:
        config_warning_add(errs, at,
                           "backend '%s': %s is the API server's, which does not take the K3s "
                           "token (it answers 401): check the supervisor's /v1-k3s/readyz and "
                           "give health.apiserver for the API server's readiness",
                           b->name, path);
        break;
    case TLS_K3S_ROUTE_NODES:
        config_warning_add(errs, at,
                           "backend '%s': %s admits kubelet client certificates only (403 for "
                           "any token)",
                           b->name, path);
        break;
    case TLS_K3S_ROUTE_SERVER:
        config_warning_add(errs, at,
                           "backend '%s': %s is for the server token's user, and a k3s check "
                           "presents user node as an agent does (403)",
                           b->name, path);
        break;
    default:
        break;
    }
}

static void k3s_advice(const struct config_backend *b, struct config_errors *errs)
{
    const struct config_health *h = &b->health;
    struct config_mark at = config_mark_of(&h->obj, &config_health_section, "token_file");
    struct tls_k3s_token t;
    char why[320], *secret;
    if (!h->token_file && !h->token_env) {
        if (h->path && tls_k3s_route_of(h->path) != TLS_K3S_ROUTE_OPEN)
            config_warning_add(errs, config_mark_of(&h->obj, &config_health_section, "path"),
                               "backend '%s': %s needs credentials: give token_file (without "
                               "a token a k3s check can only ask /ping)",
                               b->name, h->path);
        return;
    }
    if (h->token_env)
        at = config_mark_of(&h->obj, &config_health_section, "token_env");
    if (!(secret = config_secret_read(h->token_file, h->token_env, "k3s token", why, sizeof(why))))
        return; /* unreadable here: the probes say so where it runs */
    if (tls_k3s_token_parse(secret, &t, why, sizeof(why)) < 0) {
        config_warning_add(errs, at, "backend '%s': %s: every check will fail", b->name, why);
    } else {
        if (!t.ca_hash && !h->tls.ca)
            config_warning_add(errs, at,
                               "backend '%s': the token has no CA hash, so the servers' CA is "
                               "trusted as they send it: use the full token (K10<hash>::...) "
                               "from a server's token file, or give tls.ca",
                               b->name);
        if (h->path)
            k3s_path_advice(b, h->path, config_mark_of(&h->obj, &config_health_section, "path"),
                            errs);
        tls_k3s_token_free(&t);
    }
    config_secret_free(secret);
}

/* An https check of a supervisor route as user server is refused there (403). */
static void https_advice(const struct config_backend *b, struct config_errors *errs)
{
    const struct config_health *h = &b->health;
    const char *user = h->auth.basic.user;
    if (user && strcmp(user, "server") == 0 && h->path &&
        tls_k3s_route_of(h->path) == TLS_K3S_ROUTE_AGENT)
        config_warning_add(errs, h->auth.basic.obj.mark,
                           "backend '%s': %s admits user node (the agents' group), not user "
                           "server (403): use user node with the same password",
                           b->name, h->path);
}

void health_config_advice(const struct config *cfg, struct config_errors *errs)
{
    for (size_t i = 0; i < cfg->n_backends; i++) {
        const struct config_backend *b = &cfg->backends[i];
        if (b->health.kind == CONFIG_CHECK_K3S)
            k3s_advice(b, errs);
        else if (b->health.kind == CONFIG_CHECK_HTTPS)
            https_advice(b, errs);
    }
}
