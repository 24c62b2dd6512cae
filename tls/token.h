/* K3s tokens: "K10<ca-hash>::<user>:<password>" (or "K10<hash>::<bearer>"), or a bare password
 * (user "node"). Used by the k3s check and by the agent's supervisor client. */
#ifndef K3LB_TLS_TOKEN_H
#define K3LB_TLS_TOKEN_H

#include <stddef.h>

struct tls_k3s_token {
    char *ca_hash;       /* sha256 hex of the cluster CA bundle, or NULL (bare password) */
    char *authorization; /* Authorization header value ("Basic ..." or "Bearer ...") */
};

/* Authorization header values (malloc'd): "Basic base64(user:password)", "Bearer token". */
char *tls_auth_basic(const char *user, size_t user_len, const char *password);
char *tls_auth_bearer(const char *token);

void tls_k3s_token_parse(const char *token, struct tls_k3s_token *out);
void tls_k3s_token_free(struct tls_k3s_token *t);
/* The sha256 of data as lowercase hex (65 bytes with the NUL). */
void tls_sha256_hex(const char *data, size_t len, char hex[65]);

#endif
