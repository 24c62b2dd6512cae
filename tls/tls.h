/* TLS pieces of the checks: client contexts, certificate verification details, the SAN guard.
 * Internal to health/. */
#ifndef K3LB_TLS_TLS_H
#define K3LB_TLS_TLS_H

#include "config/config-t.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* A client context from a tls block: CA (or the system's), client certificate, verification.
 * NULL with a reason in err (never secret material). */
SSL_CTX *tls_ctx(const struct config_tls *tls, char *err, size_t errlen);
/* A client context trusting exactly the PEM bundle given (k3s CA pinning). */
SSL_CTX *tls_ctx_from_pem(const char *pem, size_t len, char *err, size_t errlen);
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
