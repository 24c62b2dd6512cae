/* What k3lb knows of K3s, without a server: the CA hash of a /cacerts bundle as K3s computes it
 * (certificates made here with OpenSSL: self-signed, root and intermediate in either order, a
 * wrong root, an expired chain, trailing bytes, other PEM blocks), the token's forms and what
 * a refusal of each means, the supervisor's routes, and the names of the checks a failing
 * kube-apiserver /readyz lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "health/http.h"
#include "tls/cahash.h"
#include "tls/token.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cert {
    X509 *x;
    EVP_PKEY *key;
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

/* A certificate for cn, signed by issuer (NULL: self-signed). ca: a CA with key ids; days
 * before now it expired (0: valid). */
static struct cert make(const char *cn, const struct cert *issuer, bool ca, int expired_days,
                        const char *eku)
{
    static long serial = 1;
    struct cert c = {X509_new(), EVP_EC_gen("P-256")};
    X509 *signer;
    assert_non_null(c.x);
    assert_non_null(c.key);
    X509_set_version(c.x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(c.x), -86400L * (expired_days + 2));
    X509_gmtime_adj(X509_getm_notAfter(c.x), expired_days ? -86400L * expired_days : 86400L);
    X509_set_pubkey(c.x, c.key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(c.x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    signer = issuer ? issuer->x : c.x;
    X509_set_issuer_name(c.x, X509_get_subject_name(signer));
    add_ext(c.x, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    add_ext(c.x, signer, NID_subject_key_identifier, "hash");
    add_ext(c.x, signer, NID_authority_key_identifier, "keyid:always");
    if (ca)
        add_ext(c.x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (eku)
        add_ext(c.x, signer, NID_ext_key_usage, eku);
    assert_true(X509_sign(c.x, issuer ? issuer->key : c.key, EVP_sha256()) > 0);
    return c;
}

static void drop(struct cert *c)
{
    X509_free(c->x);
    EVP_PKEY_free(c->key);
}

/* The PEM of the certificates, concatenated (malloc'd, NUL-terminated). */
static char *bundle(size_t *len, const struct cert *a, const struct cert *b, const struct cert *c)
{
    const struct cert *all[] = {a, b, c};
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out;
    for (int i = 0; i < 3; i++)
        if (all[i])
            PEM_write_bio_X509(bio, all[i]->x);
    *len = (size_t)BIO_get_mem_data(bio, &data);
    out = malloc(*len + 1);
    memcpy(out, data, *len);
    out[*len] = '\0';
    BIO_free(bio);
    return out;
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void der_hex(const struct cert *c, char hex[65])
{
    unsigned char *der = NULL;
    int n = i2d_X509(c->x, &der);
    sha256_hex(der, (size_t)n, hex);
    OPENSSL_free(der);
}

static void expect(const char *pem, size_t len, enum tls_ca_hashed how, const char *hex)
{
    struct tls_ca_hash h;
    tls_ca_hash(pem, len, &h);
    assert_int_equal(h.how, how);
    assert_string_equal(h.hex, hex);
}

static void test_one_certificate_is_hashed_as_bytes(void **state)
{
    struct cert ca = make("k3s-server-ca", NULL, true, 0, NULL);
    size_t len;
    char *pem = bundle(&len, &ca, NULL, NULL), hex[65];
    (void)state;
    sha256_hex(pem, len, hex);
    expect(pem, len, TLS_CA_FILE, hex);
    free(pem);
    drop(&ca);
}

static void test_bundle_is_hashed_as_its_root(void **state)
{
    struct cert root = make("custom-root", NULL, true, 0, NULL);
    struct cert inter = make("intermediate", &root, true, 0, NULL);
    struct cert server_ca = make("k3s-server-ca", &inter, true, 0, NULL);
    struct cert other = make("other-root", NULL, true, 0, NULL);
    size_t len;
    char *pem, root_hex[65], other_hex[65], file_hex[65];
    struct tls_ca_hash h;
    (void)state;
    der_hex(&root, root_hex);
    der_hex(&other, other_hex);
    /* the K3s custom-CA layout: server CA, intermediate, root */
    pem = bundle(&len, &server_ca, &inter, &root);
    expect(pem, len, TLS_CA_ROOT, root_hex);
    tls_ca_hash(pem, len, &h);
    assert_int_equal(h.certs, 3);
    assert_string_equal(h.root, "/CN=custom-root");
    assert_string_not_equal(h.hex, other_hex); /* a token of another root never matches */
    free(pem);
    /* intermediate and root */
    pem = bundle(&len, &inter, &root, NULL);
    expect(pem, len, TLS_CA_ROOT, root_hex);
    free(pem);
    /* in another order the first is the root itself, which K3s never puts in its own pool of
     * roots: nothing verifies, so the bytes are hashed */
    pem = bundle(&len, &root, &inter, NULL);
    sha256_hex(pem, len, file_hex);
    expect(pem, len, TLS_CA_FILE, file_hex);
    free(pem);
    /* a root that did not sign the first: the bytes */
    pem = bundle(&len, &inter, &other, NULL);
    sha256_hex(pem, len, file_hex);
    expect(pem, len, TLS_CA_FILE, file_hex);
    free(pem);
    drop(&root);
    drop(&inter);
    drop(&server_ca);
    drop(&other);
}

static void test_what_go_would_not_verify(void **state)
{
    struct cert root = make("root", NULL, true, 0, NULL);
    struct cert old = make("expired", &root, true, 30, NULL);
    struct cert client_only = make("client-only", &root, true, 0, "clientAuth");
    struct cert server_ok = make("server-ok", &root, true, 0, "serverAuth,clientAuth");
    size_t len;
    char *pem, hex[65], root_hex[65];
    (void)state;
    der_hex(&root, root_hex);
    pem = bundle(&len, &old, &root, NULL); /* expired: Go's Verify fails, bytes hashed */
    sha256_hex(pem, len, hex);
    expect(pem, len, TLS_CA_FILE, hex);
    free(pem);
    pem = bundle(&len, &client_only, &root, NULL); /* no server auth in the chain */
    sha256_hex(pem, len, hex);
    expect(pem, len, TLS_CA_FILE, hex);
    free(pem);
    pem = bundle(&len, &server_ok, &root, NULL);
    expect(pem, len, TLS_CA_ROOT, root_hex);
    free(pem);
    drop(&root);
    drop(&old);
    drop(&client_only);
    drop(&server_ok);
}

static void test_how_the_bundle_is_read(void **state)
{
    struct cert ca = make("ca", NULL, true, 0, NULL);
    size_t len;
    char *pem = bundle(&len, &ca, NULL, NULL), *buf, hex[65];
    size_t n;
    (void)state;
    buf = malloc(len + 200);
    /* another kind of PEM block is passed over: still one certificate, the bytes hashed */
    n = (size_t)snprintf(buf, len + 200,
                         "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC "
                         "KEY-----\n%s",
                         pem);
    sha256_hex(buf, n, hex);
    expect(buf, n, TLS_CA_FILE, hex);
    /* a CERTIFICATE block that does not parse spoils the bundle: an empty hash */
    n = (size_t)snprintf(buf, len + 200,
                         "%s-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END "
                         "CERTIFICATE-----\n",
                         pem);
    expect(buf, n, TLS_CA_UNPARSED, "");
    /* nothing at all */
    expect("", 0, TLS_CA_UNPARSED, "");
    expect("not pem", 7, TLS_CA_UNPARSED, "");
    free(buf);
    free(pem);
    drop(&ca);
}

static void test_token_forms_and_refusals(void **state)
{
    struct tls_k3s_token t;
    char why[200], hash[65];
    const char *h64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    (void)state;
    snprintf(hash, sizeof(hash), "%s", h64);
    char tok[200];
    snprintf(tok, sizeof(tok), "K10%s::server:pw", hash);
    assert_int_equal(tls_k3s_token_parse(tok, &t, why, sizeof(why)), 0);
    assert_int_equal(t.cred, TLS_K3S_CRED_SERVER);
    assert_string_equal(t.ca_hash, h64);
    assert_non_null(t.server_authorization);
    assert_non_null(strstr(tls_k3s_refusal(401, t.cred), "--agent-token"));
    tls_k3s_token_free(&t);
    snprintf(tok, sizeof(tok), "K10%s::node:agentpw", hash);
    assert_int_equal(tls_k3s_token_parse(tok, &t, why, sizeof(why)), 0);
    assert_int_equal(t.cred, TLS_K3S_CRED_USER);
    assert_null(t.server_authorization);
    tls_k3s_token_free(&t);
    assert_int_equal(tls_k3s_token_parse("abcdef.0123456789abcdef", &t, why, sizeof(why)), 0);
    assert_int_equal(t.cred, TLS_K3S_CRED_BOOTSTRAP);
    assert_non_null(strstr(tls_k3s_refusal(403, t.cred), "API server is up"));
    tls_k3s_token_free(&t);
    assert_int_equal(tls_k3s_token_parse("s3cret", &t, why, sizeof(why)), 0);
    assert_int_equal(t.cred, TLS_K3S_CRED_PASSWORD);
    assert_null(t.ca_hash);
    tls_k3s_token_free(&t);
    assert_null(tls_k3s_refusal(500, TLS_K3S_CRED_SERVER));
}

static void test_routes(void **state)
{
    (void)state;
    assert_int_equal(tls_k3s_route_of("/ping"), TLS_K3S_ROUTE_OPEN);
    assert_int_equal(tls_k3s_route_of("/cacerts"), TLS_K3S_ROUTE_OPEN);
    assert_int_equal(tls_k3s_route_of("/v1-k3s/readyz"), TLS_K3S_ROUTE_AGENT);
    assert_int_equal(tls_k3s_route_of("/v1-rke2/readyz?x=1"), TLS_K3S_ROUTE_AGENT);
    assert_int_equal(tls_k3s_route_of("/v1-k3s/apiservers"), TLS_K3S_ROUTE_AGENT);
    assert_int_equal(tls_k3s_route_of("/v1-k3s/connect"), TLS_K3S_ROUTE_NODES);
    assert_int_equal(tls_k3s_route_of("/v1-k3s/token"), TLS_K3S_ROUTE_SERVER);
    assert_int_equal(tls_k3s_route_of("/db/info"), TLS_K3S_ROUTE_SERVER);
    assert_int_equal(tls_k3s_route_of("/readyz"), TLS_K3S_ROUTE_APISERVER);
    assert_int_equal(tls_k3s_route_of("/v1-k3s/readyzz"), TLS_K3S_ROUTE_APISERVER);
    assert_int_equal(tls_k3s_route_of("/v1-k3s"), TLS_K3S_ROUTE_APISERVER);
    assert_int_equal(tls_k3s_route_of("/pingx"), TLS_K3S_ROUTE_APISERVER);
}

static void test_readyz_failed_checks(void **state)
{
    char out[64], small[12];
    (void)state;
    health_readyz_failed("[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n"
                         "[-]etcd-readiness failed: reason withheld\n[+]shutdown ok\n"
                         "readyz check failed",
                         out, sizeof(out));
    assert_string_equal(out, "etcd, etcd-readiness");
    health_readyz_failed("ok", out, sizeof(out));
    assert_string_equal(out, "");
    health_readyz_failed("[-]\n[-] x\n[-]shutdown failed: reason withheld\r\n", out, sizeof(out));
    assert_string_equal(out, "shutdown");
    health_readyz_failed("[-]aaaa failed\n[-]bbbb failed\n[-]cccc failed\n", small, sizeof(small));
    assert_string_equal(small, "aaaa, bb...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_certificate_is_hashed_as_bytes),
        cmocka_unit_test(test_bundle_is_hashed_as_its_root),
        cmocka_unit_test(test_what_go_would_not_verify),
        cmocka_unit_test(test_how_the_bundle_is_read),
        cmocka_unit_test(test_token_forms_and_refusals),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_readyz_failed_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
