/* K3s token parsing and the credentials it carries. */
#include "tls/token.h"
#include "common/xalloc.h"
#include "config/value.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

char *tls_auth_basic(const char *user, size_t user_len, const char *password)
{
    size_t n = user_len + 1 + strlen(password);
    char *creds = xmalloc(n + 1), *out;
    memcpy(creds, user, user_len);
    creds[user_len] = ':';
    memcpy(creds + user_len + 1, password, strlen(password) + 1);
    out = config_auth_basic(creds, n);
    OPENSSL_cleanse(creds, n);
    free(creds);
    return out;
}

/* A kubeadm bootstrap token, "[a-z0-9]{6}.[a-z0-9]{16}" (what K3s tries first). */
static bool bootstrap_token(const char *s)
{
    for (int i = 0; i < 23; i++) {
        bool ok =
            i == 6 ? s[i] == '.' : (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');
        if (!ok)
            return false;
    }
    return s[23] == '\0';
}

int tls_k3s_token_parse(const char *token, struct tls_k3s_token *out, char *why, size_t whylen)
{
    const char *creds = token, *colon;
    memset(out, 0, sizeof(*out));
    if (!*token) {
        snprintf(why, whylen, "the K3s token is empty");
        return -1;
    }
    if (strncmp(token, "K10", 3) == 0) {
        const char *sep = strstr(token + 3, "::");
        size_t n = sep ? (size_t)(sep - token - 3) : 0;
        if (sep && n != 0 && n != 64) {
            snprintf(why, whylen, "the K3s token's CA hash has %zu characters, not 64", n);
            return -1;
        }
        if (n)
            out->ca_hash = xstrndup(token + 3, n);
        creds = sep ? sep + 2 : token + 3;
        if (bootstrap_token(creds)) {
            out->cred = TLS_K3S_CRED_BOOTSTRAP;
            out->authorization = tls_auth_bearer(creds);
            return 0;
        }
        colon = strchr(creds, ':');
        if (!colon || !colon[1]) {
            tls_k3s_token_free(out);
            snprintf(why, whylen, "the K3s token has no user:password after its CA hash");
            return -1;
        }
        out->cred = TLS_K3S_CRED_USER;
        if (colon - creds == 6 && strncmp(creds, "server", 6) == 0) {
            out->cred = TLS_K3S_CRED_SERVER;
            out->server_authorization = tls_auth_basic("server", 6, colon + 1);
        }
        creds = colon + 1; /* the user part is replaced: agents always say "node" */
    } else if (bootstrap_token(token)) {
        out->cred = TLS_K3S_CRED_BOOTSTRAP;
        out->authorization = tls_auth_bearer(token);
        return 0;
    }
    /* A server token ("server:pw") works for agents as user node with the same password; a
     * bare string is a password (even one with a colon in it). */
    out->authorization = tls_auth_basic("node", 4, creds);
    return 0;
}

char *tls_auth_bearer(const char *token)
{
    size_t n = strlen(token) + 8;
    char *out = xmalloc(n);
    snprintf(out, n, "Bearer %s", token);
    return out;
}

void tls_k3s_token_free(struct tls_k3s_token *t)
{
    if (t->authorization) {
        OPENSSL_cleanse(t->authorization, strlen(t->authorization));
        free(t->authorization);
    }
    if (t->server_authorization) {
        OPENSSL_cleanse(t->server_authorization, strlen(t->server_authorization));
        free(t->server_authorization);
    }
    free(t->ca_hash);
    memset(t, 0, sizeof(*t));
}

/* The routes of a K3s (or RKE2) supervisor by who may use them, from k3s-io/k3s
 * pkg/server/handlers/router.go (NewHandler; read at 866d743e, lines 34-70): each router hands
 * what it does not match to the next, and what none matches goes to kube-apiserver. */
static const struct {
    const char *suffix; /* after "/v1-k3s" or "/v1-rke2" */
    enum tls_k3s_route route;
} supervisor_routes[] = {
    {"/readyz", TLS_K3S_ROUTE_AGENT},
    {"/apiservers", TLS_K3S_ROUTE_AGENT},
    {"/config", TLS_K3S_ROUTE_AGENT},
    {"/serving-kubelet.crt", TLS_K3S_ROUTE_AGENT},
    {"/client-kubelet.crt", TLS_K3S_ROUTE_AGENT},
    {"/client-kube-proxy.crt", TLS_K3S_ROUTE_AGENT},
    {"/client-k3s-controller.crt", TLS_K3S_ROUTE_AGENT},
    {"/client-rke2-controller.crt", TLS_K3S_ROUTE_AGENT},
    {"/client-ca.crt", TLS_K3S_ROUTE_AGENT},
    {"/server-ca.crt", TLS_K3S_ROUTE_AGENT},
    {"/connect", TLS_K3S_ROUTE_NODES},
    {"/encrypt/status", TLS_K3S_ROUTE_SERVER},
    {"/encrypt/config", TLS_K3S_ROUTE_SERVER},
    {"/cert/cacerts", TLS_K3S_ROUTE_SERVER},
    {"/server-bootstrap", TLS_K3S_ROUTE_SERVER},
    {"/token", TLS_K3S_ROUTE_SERVER},
};

enum tls_k3s_route tls_k3s_route_of(const char *path)
{
    size_t n = strcspn(path, "?");
    const char *rest = NULL;
    if (n == 5 && strncmp(path, "/ping", 5) == 0)
        return TLS_K3S_ROUTE_OPEN;
    if ((n == 8 && strncmp(path, "/cacerts", 8) == 0) || strncmp(path, "/static/", 8) == 0)
        return TLS_K3S_ROUTE_OPEN;
    if (n == 8 && strncmp(path, "/db/info", 8) == 0) /* pkg/etcd: the server role */
        return TLS_K3S_ROUTE_SERVER;
    if (strncmp(path, "/v1-k3s/", 8) == 0)
        rest = path + 7;
    else if (strncmp(path, "/v1-rke2/", 9) == 0)
        rest = path + 8;
    for (size_t i = 0; rest && i < sizeof(supervisor_routes) / sizeof(supervisor_routes[0]); i++) {
        size_t len = strlen(supervisor_routes[i].suffix);
        if ((size_t)(path + n - rest) == len &&
            strncmp(rest, supervisor_routes[i].suffix, len) == 0)
            return supervisor_routes[i].route;
    }
    return TLS_K3S_ROUTE_APISERVER;
}

/* What 401 and 403 mean on an agent route, from how K3s authenticates (pkg/server/auth/auth.go
 * doAuth: an authenticator error is 401, no one recognised or the wrong group 403; the password
 * file's "node" user has the agent token's password, which is the server token's when
 * --agent-token is not set, pkg/daemons/control/deps/deps.go getNodePass; bearer tokens are
 * only known once kube-apiserver is up, pkg/daemons/control/server.go). */
const char *tls_k3s_refusal(int status, enum tls_k3s_cred cred)
{
    if (status == 401) {
        switch (cred) {
        case TLS_K3S_CRED_SERVER:
            return "the token's password is not the node password: servers started with "
                   "--agent-token need the agent token (K10...::node:...)";
        case TLS_K3S_CRED_USER:
        case TLS_K3S_CRED_PASSWORD:
            return "the token's password is not this cluster's: neither its agent token nor, "
                   "without --agent-token, its server token";
        case TLS_K3S_CRED_BOOTSTRAP:
            return "the bootstrap token is unknown, expired or not for authentication (k3s "
                   "token list)";
        }
    }
    if (status == 403)
        return cred == TLS_K3S_CRED_BOOTSTRAP
                   ? "a bootstrap token is only accepted once the server's API server is up"
                   : "the server took the credentials for none of the groups the agent routes "
                     "admit (k3s:agent, system:nodes, system:bootstrappers)";
    return NULL;
}
