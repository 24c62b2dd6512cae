/* TLS helpers for the checks. Contexts are made when a target is configured (at start and
 * reload), never on the probe path. */
#include "tls/tls.h"
#include "tls/cahash.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

/* Loads a client certificate and its key (both PEM files) into ctx; false with the reason. */
static bool use_client_cert(SSL_CTX *ctx, const char *cert, const char *key, char *err,
                            size_t errlen)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        openssl_reason(err, errlen, "cannot load certificate", cert);
        return false;
    }
    if (key && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        openssl_reason(err, errlen, "cannot load key", key);
        return false;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        openssl_reason(err, errlen, "key does not match certificate", cert);
        return false;
    }
    return true;
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
    if (tls->cert && !use_client_cert(ctx, tls->cert, tls->key, err, errlen))
        goto fail;
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_ctx_with_client_cert(SSL_CTX *trust, const char *cert, const char *key, char *err,
                                  size_t errlen)
{
    SSL_CTX *ctx = client_ctx();
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set1_cert_store(ctx, SSL_CTX_get_cert_store(trust));
    SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(trust), NULL);
    if (!use_client_cert(ctx, cert, key, err, errlen)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
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
    /* Every certificate of the bundle is a trust anchor, as in a Go client's RootCAs: a bundle
     * that holds the cluster's intermediate CA but not its root still verifies. */
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

/* The system's trust store, read once (as a Go client reads the system pool once). */
static X509_STORE *system_store(void)
{
    static X509_STORE *store;
    if (!store && (store = X509_STORE_new()) && X509_STORE_set_default_paths(store) != 1) {
        X509_STORE_free(store);
        store = NULL;
    }
    ERR_clear_error();
    return store;
}

static bool is_ip(const char *name)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

bool tls_system_trusts(SSL *ssl, const char *name)
{
    X509_STORE *store = system_store();
    X509 *leaf = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    X509_STORE_CTX *ctx = store && leaf ? X509_STORE_CTX_new() : NULL;
    bool ok = false;
    if (ctx && X509_STORE_CTX_init(ctx, store, leaf, SSL_get_peer_cert_chain(ssl)) == 1) {
        X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
        if (name && is_ip(name))
            X509_VERIFY_PARAM_set1_ip_asc(param, name);
        else if (name)
            X509_VERIFY_PARAM_set1_host(param, name, 0);
        ok = X509_verify_cert(ctx) == 1;
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

SSL_CTX *tls_k3s_trust(SSL *ssl, const char *name, const char *pem, size_t len, const char *hash,
                       enum tls_k3s_trusted *how, char *why, size_t whylen)
{
    struct tls_ca_hash h;
    char said[200];
    SSL_CTX *ctx;
    if (tls_system_trusts(ssl, name)) {
        /* K3s's agent asks /cacerts with the system's roots first; when that works it keeps
         * them and does not compare the token's hash (getCACerts, validateCAHash). */
        *how = TLS_K3S_SYSTEM;
        ctx = client_ctx();
        if (ctx && SSL_CTX_set_default_verify_paths(ctx) == 1) {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
            return ctx;
        }
        SSL_CTX_free(ctx);
        snprintf(why, whylen, "cannot load the system's CA store");
        return NULL;
    }
    if (hash) {
        tls_ca_hash(pem, len, &h);
        if (strcasecmp(h.hex, hash) != 0) {
            tls_ca_hash_describe(&h, said, sizeof(said));
            snprintf(why, whylen,
                     "the server's CA does not match the token's hash (its /cacerts is %s): "
                     "wrong cluster, or wrong token",
                     said);
            return NULL;
        }
    }
    *how = hash ? TLS_K3S_PINNED : TLS_K3S_UNVERIFIED;
    return tls_ctx_from_pem(pem, len, why, whylen);
}

SSL_CTX *tls_ctx_insecure(void)
{
    SSL_CTX *ctx = client_ctx();
    if (ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
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
