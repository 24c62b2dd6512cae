/* TLS pieces of the checks and of the agent's supervisor client: client contexts, trust in a
 * K3s server's CA, certificate verification details, the SAN guard. */
#ifndef K3LB_TLS_TLS_H
#define K3LB_TLS_TLS_H

#include "config/config-t.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* A client context from a tls block: CA (or the system's), client certificate, verification.
 * NULL with a reason in err (never secret material). */
SSL_CTX *tls_ctx(const struct config_tls *tls, char *err, size_t errlen);
/* A client context with trust's CA store and verification and a client certificate of its own
 * (the API server's credentials beside a pinned K3s CA). NULL with a reason. */
SSL_CTX *tls_ctx_with_client_cert(SSL_CTX *trust, const char *cert, const char *key, char *err,
                                  size_t errlen);
/* A client context trusting exactly the PEM bundle given (k3s CA pinning). */
SSL_CTX *tls_ctx_from_pem(const char *pem, size_t len, char *err, size_t errlen);
/* Whether the peer's certificate verifies against the system's trust store, for name (an IP
 * literal or a host name). */
bool tls_system_trusts(SSL *ssl, const char *name);

/* How a K3s server's CA came to be trusted, after its /cacerts. */
enum tls_k3s_trusted {
    TLS_K3S_PINNED,     /* the bundle matched the token's CA hash */
    TLS_K3S_SYSTEM,     /* the system's store verifies the server: the hash is not compared */
    TLS_K3S_UNVERIFIED, /* the token has no hash: the bundle the server sent, unchecked */
};

/* Decides, as K3s's agent does (pkg/clientaccess/token.go), which context the requests after
 * /cacerts use: ssl is the connection /cacerts came over (unverified), name the server's host,
 * pem its answer, hash the token's CA hash or NULL. NULL with a reason in why when the bundle
 * does not match the hash. */
SSL_CTX *tls_k3s_trust(SSL *ssl, const char *name, const char *pem, size_t len, const char *hash,
                       enum tls_k3s_trusted *how, char *why, size_t whylen);

/* A context that verifies nothing: for /cacerts before pinning, and k3s /ping without a CA. */
SSL_CTX *tls_ctx_insecure(void);

/* A new SSL for one probe: SNI and, when verifying, the name or IP the certificate must cover. */
SSL *tls_new(SSL_CTX *ctx, const char *name, bool verify);

/* Why a handshake or TLS read failed, in words: "certificate verify failed: ...", or the
 * OpenSSL error, or the alert the server sent. */
void tls_explain(SSL *ssl, unsigned long err, char *buf, size_t len);

/* SAN guard: writes into warning the names the peer certificate does not cover and how to fix
 * it, or "" when it covers all. */
void tls_san_guard(SSL *ssl, const char *server, const char *const *names, size_t n, char *warning,
                   size_t len);

#endif
