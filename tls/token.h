/* K3s tokens, read as K3s's agent reads them (pkg/clientaccess/token.go): "K10<ca-hash>::<user>:
 * <password>", "K10<ca-hash>::<bootstrap token>", a bare bootstrap token "abcdef.0123456789abcdef",
 * or a bare password. Agents always present user "node" (K3s's WithUser("node")): the agent
 * routes of a K3s server refuse user "server" with 403. Bootstrap tokens go as Bearer. Used by
 * the k3s check and by the agent's supervisor client. */
#ifndef K3LB_TLS_TOKEN_H
#define K3LB_TLS_TOKEN_H

#include <stddef.h>

struct tls_k3s_token {
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
/* The sha256 of data as lowercase hex (65 bytes with the NUL). */
void tls_sha256_hex(const char *data, size_t len, char hex[65]);

#endif
