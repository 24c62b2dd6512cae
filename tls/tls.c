/* TLS helpers for the checks. Contexts are made when a target is configured (at start and
 * reload), never on the probe path. */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static void openssl_reason(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char buf[160] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    snprintf(err, errlen, "%s %s: %s", what, path, buf);
}

static SSL_CTX *client_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Probes are one-shot: no session cache, no tickets kept between them. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

SSL_CTX *tls_ctx(const struct config_tls *tls, char *err, size_t errlen)
{
    SSL_CTX *ctx = client_ctx();
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_verify(ctx, tls->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (tls->ca ? SSL_CTX_load_verify_locations(ctx, tls->ca, NULL) != 1
                : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        openssl_reason(err, errlen, "cannot load CA", tls->ca ? tls->ca : "(system)");
        goto fail;
    }
    if (tls->cert && SSL_CTX_use_certificate_chain_file(ctx, tls->cert) != 1) {
        openssl_reason(err, errlen, "cannot load certificate", tls->cert);
        goto fail;
    }
    if (tls->key && SSL_CTX_use_PrivateKey_file(ctx, tls->key, SSL_FILETYPE_PEM) != 1) {
        openssl_reason(err, errlen, "cannot load key", tls->key);
        goto fail;
    }
    if (tls->cert && SSL_CTX_check_private_key(ctx) != 1) {
        openssl_reason(err, errlen, "key does not match certificate", tls->cert);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_ctx_from_pem(const char *pem, size_t len, char *err, size_t errlen)
{
    SSL_CTX *ctx = client_ctx();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509_STORE *store = ctx ? SSL_CTX_get_cert_store(ctx) : NULL;
    X509 *x;
    int n = 0;

    while (bio && store && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        X509_STORE_add_cert(store, x);
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (!ctx || n == 0) {
        snprintf(err, errlen, "no certificate in the server's CA bundle");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

SSL_CTX *tls_ctx_insecure(void)
{
    SSL_CTX *ctx = client_ctx();
    if (ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

static bool is_ip(const char *name)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

SSL *tls_new(SSL_CTX *ctx, const char *name, bool verify)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || !name)
        return ssl;
    if (!is_ip(name))
        SSL_set_tlsext_host_name(ssl, name);
    if (verify) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        if (is_ip(name))
            X509_VERIFY_PARAM_set1_ip_asc(param, name);
        else
            X509_VERIFY_PARAM_set1_host(param, name, 0);
    }
    return ssl;
}

void tls_explain(SSL *ssl, unsigned long err, char *buf, size_t len)
{
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK) {
        snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(v));
        return;
    }
    if (err) {
        const char *reason = ERR_reason_error_string(err);
        snprintf(buf, len, "TLS error: %s", reason ? reason : "unknown");
        return;
    }
    snprintf(buf, len, "TLS connection failed");
}

static bool covers(X509 *cert, const char *name)
{
    if (is_ip(name))
        return X509_check_ip_asc(cert, name, 0) == 1;
    return X509_check_host(cert, name, 0, 0, NULL) == 1;
}

void tls_san_guard(SSL *ssl, const char *server, const char *const *names, size_t n, char *warning,
                   size_t len)
{
    X509 *cert = n ? SSL_get1_peer_certificate(ssl) : NULL;
    size_t used = 0;
    warning[0] = '\0';
    for (size_t i = 0; cert && i < n; i++) {
        if (covers(cert, names[i]))
            continue;
        if (used == 0)
            used = (size_t)snprintf(warning, len, "certificate of %s does not cover %s", server,
                                    names[i]);
        else if (used < len)
            used += (size_t)snprintf(warning + used, len - used, ", %s", names[i]);
    }
    if (used && used < len) {
        snprintf(warning + used, len - used, ": start the server with");
        used = strlen(warning);
        for (size_t i = 0; i < n && used < len; i++)
            if (!covers(cert, names[i]))
                used += (size_t)snprintf(warning + used, len - used, " --tls-san %s", names[i]);
    }
    X509_free(cert);
}
