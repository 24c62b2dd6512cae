/* K3s tokens, read as K3s's agent reads them (pkg/clientaccess/token.go): "K10<ca-hash>::<user>:
 * <password>", "K10<ca-hash>::<bootstrap token>", a bare bootstrap token "abcdef.0123456789abcdef",
 * or a bare password. Agents always present user "node" (K3s's WithUser("node")): the agent
 * routes of a K3s server refuse user "server" with 403. Bootstrap tokens go as Bearer. Used by
 * the k3s check and by the agent's supervisor client. */
#ifndef K3LB_TLS_TOKEN_H
#define K3LB_TLS_TOKEN_H

#include <stddef.h>

/* What the token's credentials are, which decides what a K3s server admits them to. */
enum tls_k3s_cred {
    TLS_K3S_CRED_PASSWORD = 0, /* a bare password: the server token's, or an agent token */
    TLS_K3S_CRED_SERVER,       /* K10...::server:pw, the server token file's form */
    TLS_K3S_CRED_USER,         /* K10...::<user>:pw for another user: the agent token file's
                                  form (user node) */
    TLS_K3S_CRED_BOOTSTRAP,    /* a bootstrap token id.secret (k3s token create) */
};

struct tls_k3s_token {
    enum tls_k3s_cred cred;
    char *ca_hash;              /* sha256 hex of the cluster CA bundle, or NULL (bare password) */
    char *authorization;        /* Authorization header value ("Basic ..." or "Bearer ...") */
    char *server_authorization; /* "Basic" as user "server", for the k3s:server routes
                                   (/db/info), when the token is a server token; else NULL */
};

/* Authorization header values (malloc'd): "Basic base64(user:password)", "Bearer token". */
char *tls_auth_basic(const char *user, size_t user_len, const char *password);
char *tls_auth_bearer(const char *token);

/* 0, or -1 with a reason in why (which never quotes the token). */
int tls_k3s_token_parse(const char *token, struct tls_k3s_token *out, char *why, size_t whylen);
void tls_k3s_token_free(struct tls_k3s_token *t);

/* Who a K3s server admits to a path on its supervisor port (pkg/server/handlers/router.go). */
enum tls_k3s_route {
    TLS_K3S_ROUTE_OPEN = 0,  /* /ping, /cacerts, /static/: no credentials */
    TLS_K3S_ROUTE_AGENT,     /* /v1-k3s/readyz, /apiservers, /config, certificates: the groups
                                k3s:agent (user node), system:nodes, system:bootstrappers */
    TLS_K3S_ROUTE_NODES,     /* /v1-k3s/connect: system:nodes, a kubelet client certificate */
    TLS_K3S_ROUTE_SERVER,    /* /v1-k3s/encrypt/..., /token, /server-bootstrap, /cert/cacerts,
                                /db/info: k3s:server (user server) */
    TLS_K3S_ROUTE_APISERVER, /* anything else goes on to kube-apiserver, which knows neither
                                K3s user (401) */
};
enum tls_k3s_route tls_k3s_route_of(const char *path);

/* Why a K3s server answered status (401 or 403) to these credentials on an agent route, in
 * words an operator can act on; NULL for other statuses. */
const char *tls_k3s_refusal(int status, enum tls_k3s_cred cred);

#endif
