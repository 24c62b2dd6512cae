/* The K3s CA hash of a /cacerts bundle, as k3s-io/k3s pkg/clientaccess/token.go computes it
 * (hashCA, read at commit 0566d4571ef8e44fdc87aee1ddf42667256f5e84):
 * - the bundle is read as Kubernetes' certutil.ParseCertsPEM reads it: only PEM blocks of type
 *   CERTIFICATE without headers count, other blocks are skipped, a CERTIFICATE block that does
 *   not parse (or has bytes after the certificate) makes the whole bundle unusable, and a bundle
 *   with none is unusable too; an unusable bundle's hash is empty and matches no token;
 * - one certificate: the sha256 of the file's bytes (the legacy hash every K3s token had);
 * - more: every certificate after the first is a root when it has no authority key id or one
 *   equal to its subject key id, else an intermediate; the first is verified against those
 *   pools (Go's x509 Verify: any root is a trust anchor, the chain must allow server auth,
 *   times are checked) and the sha256 of the DER of the chain's last certificate is the hash;
 *   when it does not verify, the file's bytes are hashed as for one certificate. */
#include "tls/cahash.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bundle larger than a health answer cannot arrive; this bounds the loop on any input. */
#define CA_BLOCKS_MAX 256

static void sha256_hex(const unsigned char *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Reads the CERTIFICATE blocks into certs; false when one of them does not parse. */
static bool read_certs(const char *pem, size_t len, STACK_OF(X509) * certs)
{
    BIO *bio = BIO_new_mem_buf(pem, len > INT32_MAX ? INT32_MAX : (int)len);
    bool ok = bio != NULL;
    for (int i = 0; ok && i < CA_BLOCKS_MAX; i++) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long n = 0;
        if (PEM_read_bio(bio, &name, &header, &data, &n) != 1) {
            /* No start line: the end. A malformed block is passed over, as Go's pem.Decode
             * passes over one and goes on looking. */
            unsigned long e = ERR_peek_last_error();
            ERR_clear_error();
            if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE || BIO_eof(bio))
                break;
            continue;
        }
        if (strcmp(name, PEM_STRING_X509) == 0 && header[0] == '\0') {
            const unsigned char *p = data;
            X509 *x = d2i_X509(NULL, &p, n);
            if (!x || p != data + n) {
                X509_free(x);
                ok = false;
            } else {
                sk_X509_push(certs, x);
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
    BIO_free(bio);
    ERR_clear_error();
    return ok;
}

static bool is_root(X509 *x)
{
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    if (!aki || ASN1_STRING_length(aki) == 0)
        return true;
    return ski && ASN1_OCTET_STRING_cmp(aki, ski) == 0;
}

/* Go's Verify asks for server auth by default: a certificate of the chain that names extended
 * key usages must include it, any usage, or a server-gated-crypto usage (which Go takes as
 * server auth). OpenSSL's own purpose check would also demand key usages of the first
 * certificate that Go does not look at, so this is checked here instead. */
static bool chain_allows_server_auth(STACK_OF(X509) * chain)
{
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if ((X509_get_extension_flags(x) & EXFLAG_XKUSAGE) &&
            !(X509_get_extended_key_usage(x) & (XKU_SSL_SERVER | XKU_SGC | XKU_ANYEKU)))
            return false;
    }
    return true;
}

/* The root the first certificate chains to through the others, or NULL. */
static X509 *chain_root(STACK_OF(X509) * certs)
{
    X509_STORE *roots = X509_STORE_new();
    STACK_OF(X509) *inter = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 *root = NULL;
    if (!roots || !inter || !ctx)
        goto out;
    for (int i = 1; i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        if (is_root(x))
            X509_STORE_add_cert(roots, x);
        else
            sk_X509_push(inter, x);
    }
    /* Every certificate in the roots pool is an anchor, self-signed or not, as in Go. */
    X509_STORE_set_flags(roots, X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_STORE_CTX_init(ctx, roots, sk_X509_value(certs, 0), inter) == 1 &&
        X509_verify_cert(ctx) == 1) {
        STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
        if (chain_allows_server_auth(chain)) {
            root = sk_X509_value(chain, sk_X509_num(chain) - 1);
            X509_up_ref(root);
        }
    }
out:
    X509_STORE_CTX_free(ctx);
    sk_X509_free(inter);
    X509_STORE_free(roots);
    ERR_clear_error();
    return root;
}

static void hash_root(X509 *root, struct tls_ca_hash *out)
{
    unsigned char *der = NULL;
    int n = i2d_X509(root, &der);
    if (n > 0) {
        sha256_hex(der, (size_t)n, out->hex);
        X509_NAME_oneline(X509_get_subject_name(root), out->root, sizeof(out->root));
        out->how = TLS_CA_ROOT;
    }
    OPENSSL_free(der);
}

void tls_ca_hash(const char *pem, size_t len, struct tls_ca_hash *out)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    memset(out, 0, sizeof(*out));
    if (!certs)
        return;
    if (read_certs(pem, len, certs) && sk_X509_num(certs) > 0) {
        out->certs = (unsigned)sk_X509_num(certs);
        if (out->certs > 1) {
            X509 *root = chain_root(certs);
            if (root)
                hash_root(root, out);
            X509_free(root);
        }
        if (out->how == TLS_CA_UNPARSED) {
            sha256_hex((const unsigned char *)pem, len, out->hex);
            out->how = TLS_CA_FILE;
        }
    }
    sk_X509_pop_free(certs, X509_free);
}

void tls_ca_hash_describe(const struct tls_ca_hash *h, char *buf, size_t len)
{
    switch (h->how) {
    case TLS_CA_UNPARSED:
        snprintf(buf, len, "no certificate K3s would read in it");
        break;
    case TLS_CA_FILE:
        snprintf(buf, len, "hashed as the bundle's bytes (%u certificate%s%s)", h->certs,
                 h->certs == 1 ? "" : "s",
                 h->certs > 1 ? "; the first chains to no root among the others" : "");
        break;
    case TLS_CA_ROOT:
        snprintf(buf, len, "hashed as its root %s (%u certificates)", h->root, h->certs);
        break;
    }
}
