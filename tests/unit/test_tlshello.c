/* The ClientHello reader (common/tlshello.c) and SNI route matching (lb/route.c): hellos that
 * OpenSSL itself writes (TLS 1.2 and 1.3), hellos built here to reach every branch (several
 * records, GREASE and ECH extensions, no name, garbage, bounds), at every length they may
 * arrive in; and which backend a name gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/tlshello.h"
#include "lb/route.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- building hellos --------------------------------------------------------------------------
 */

struct buf {
    unsigned char b[TLSHELLO_PEEK + 70000];
    size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof(o->b));
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put16(struct buf *o, size_t v)
{
    unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(o, x, 2);
}

static void ext(struct buf *o, unsigned type, const void *data, size_t n)
{
    put16(o, type);
    put16(o, n);
    put(o, data, n);
}

static void sni_ext(struct buf *o, const char *name)
{
    struct buf e = {.n = 0};
    size_t n = strlen(name);
    put16(&e, n + 3);
    put(&e, "\0", 1);
    put16(&e, n);
    put(&e, name, n);
    ext(o, 0, e.b, e.n);
}

/* The handshake message: a ClientHello with the given extensions block (NULL: none at all). */
static void hello_msg(struct buf *m, const struct buf *exts)
{
    struct buf body = {.n = 0};
    unsigned char random[32] = {0}, suites[4] = {0x13, 0x01, 0xc0, 0x2f};
    put(&body, "\x03\x03", 2);
    put(&body, random, sizeof(random));
    put(&body, "\x00", 1); /* no session id */
    put16(&body, sizeof(suites));
    put(&body, suites, sizeof(suites));
    put(&body, "\x01\x00", 2); /* null compression */
    if (exts) {
        put16(&body, exts->n);
        put(&body, exts->b, exts->n);
    }
    m->n = 0;
    put(m, "\x01", 1);
    unsigned char len[3] = {(unsigned char)(body.n >> 16), (unsigned char)(body.n >> 8),
                            (unsigned char)body.n};
    put(m, len, 3);
    put(m, body.b, body.n);
}

/* The message in records of at most per bytes each. */
static void records(struct buf *out, const struct buf *m, size_t per)
{
    out->n = 0;
    for (size_t off = 0; off < m->n; off += per) {
        size_t k = m->n - off < per ? m->n - off : per;
        put(out, "\x16\x03\x01", 3);
        put16(out, k);
        put(out, m->b + off, k);
    }
}

static struct buf *hello_with(const char *name, size_t per)
{
    static struct buf m, e, out;
    e.n = 0;
    ext(&e, 0x0a0a, "", 0); /* GREASE first */
    if (name)
        sni_ext(&e, name);
    ext(&e, 0xfe0d, "\x00\x01\x02\x03", 4); /* an ECH extension: passed over */
    ext(&e, 0x002b, "\x02\x03\x04", 3);     /* supported_versions */
    hello_msg(&m, &e);
    records(&out, &m, per);
    return &out;
}

/* ---- reading them -----------------------------------------------------------------------------
 */

/* Every proper prefix asks for more; the whole gives name (why mentions because when no name). */
static void expect_name(const struct buf *h, const char *want, const char *because)
{
    char name[TLSHELLO_NAME_MAX];
    const char *why;
    for (size_t i = 0; i < h->n; i++)
        if (tlshello_parse(h->b, i, name, &why) != TLSHELLO_MORE)
            fail_msg("decided at %zu of %zu bytes ('%s': %s)", i, h->n, name, why);
    assert_int_equal(tlshello_parse(h->b, h->n, name, &why), TLSHELLO_DONE);
    assert_string_equal(name, want);
    if (because && !strstr(why, because))
        fail_msg("'%s' does not say '%s'", why, because);
}

static void expect_none_at(const void *b, size_t n, const char *because)
{
    char name[TLSHELLO_NAME_MAX];
    const char *why;
    assert_int_equal(tlshello_parse(b, n, name, &why), TLSHELLO_DONE);
    assert_string_equal(name, "");
    if (!strstr(why, because))
        fail_msg("'%s' does not say '%s'", why, because);
}

static void test_built(void **state)
{
    (void)state;
    expect_name(hello_with("api.a.example", 16384), "api.a.example", NULL);
    expect_name(hello_with("API.A.Example.", 16384), "api.a.example", NULL); /* as DNS compares */
    expect_name(hello_with("api.a.example", 7), "api.a.example", NULL);      /* many records */
    expect_name(hello_with(NULL, 16384), "", "no server_name");
    expect_name(hello_with("bad name", 16384), "", "no host name");
    expect_name(hello_with("a..b", 16384), "", "no host name");

    struct buf m, out;
    hello_msg(&m, NULL);
    records(&out, &m, 16384);
    expect_name(&out, "", "without extensions");
}

static void test_refused(void **state)
{
    struct buf m, out;
    struct buf *h;
    (void)state;
    /* Another protocol: decided on its first byte, not after five. */
    expect_none_at("GET / HTTP/1.1\r\n", 1, "not a TLS handshake");
    expect_none_at("\x16\x02", 2, "not a TLS handshake");
    expect_none_at("SSH-2.0-x", 9, "not a TLS handshake");
    /* A record of length 0, or over 2^14. */
    expect_none_at("\x16\x03\x01\x00\x00", 5, "bad length");
    expect_none_at("\x16\x03\x01\x40\x01", 5, "bad length");
    /* A handshake that is not a ClientHello (a ServerHello). */
    expect_none_at("\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9, "not a ClientHello");
    /* An alert record after the first fragment. */
    h = hello_with("api.a.example", 7);
    memcpy(&out, h, sizeof(out));
    out.b[12] = 21;
    expect_none_at(out.b, out.n, "not a handshake");
    /* A message announced longer than 16 KiB. */
    expect_none_at("\x16\x03\x01\x00\x04\x01\x00\x40\x01", 9, "longer than 16 KiB");
    /* A hello cut into one-byte records exceeds the peek bound before it is whole. */
    struct buf e = {.n = 0};
    unsigned char pad[8000] = {0};
    sni_ext(&e, "api.a.example");
    ext(&e, 0x0015, pad, sizeof(pad)); /* padding */
    hello_msg(&m, &e);
    records(&out, &m, 1);
    expect_none_at(out.b, TLSHELLO_PEEK, "too many records");
    /* Lengths that do not add up. */
    h = hello_with("api.a.example", 16384);
    memcpy(&out, h, sizeof(out));
    out.b[5 + 4 + 2 + 32] = 33; /* session id longer than 32 */
    expect_none_at(out.b, out.n, "malformed ClientHello");
}

/* What OpenSSL sends as a client, captured from a memory BIO. */
static void openssl_hello(long max_version, const char *name, struct buf *out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    assert_non_null(ctx);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_set_max_proto_version(ssl, max_version);
    SSL_set_bio(ssl, rb, wb);
    if (name)
        SSL_set_tlsext_host_name(ssl, name);
    assert_true(SSL_connect(ssl) <= 0); /* wants the server's answer */
    out->n = (size_t)BIO_read(wb, out->b, (int)sizeof(out->b));
    assert_true(out->n > 50);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

static void test_openssl(void **state)
{
    struct buf h;
    (void)state;
    openssl_hello(TLS1_3_VERSION, "api.a.example", &h);
    expect_name(&h, "api.a.example", NULL);
    openssl_hello(TLS1_2_VERSION, "ingress.example", &h);
    expect_name(&h, "ingress.example", NULL);
    openssl_hello(TLS1_3_VERSION, NULL, &h);
    expect_name(&h, "", "no server_name");
}

/* ---- routes -----------------------------------------------------------------------------------
 */

/* The backend name gets; whether a route took it must be routed. */
static size_t pick(const struct config_frontend *f, const char *name, bool routed)
{
    bool took;
    size_t b = lb_route_pick(f, name, &took);
    assert_int_equal(took, routed);
    return b;
}

static void test_routes(void **state)
{
    char *a[] = {"api.a.example", "*.a.example"}, *b[] = {"*.example"}, *c[] = {"*.b.a.example"};
    char *d[] = {"*.d.example"};
    struct config_route routes[] = {
        {.sni = a, .n_sni = 2, .backend_index = 0},
        {.sni = b, .n_sni = 1, .backend_index = 1},
        {.sni = c, .n_sni = 1, .backend_index = 2},
        {.sni = d, .n_sni = 1, .backend_index = 7}, /* a route to the default's backend */
    };
    struct config_frontend f = {.routes = routes, .n_routes = 4, .backend_index = 7};
    (void)state;
    assert_int_equal(pick(&f, "api.a.example", true), 0); /* exact */
    assert_int_equal(pick(&f, "x.a.example", true), 0);   /* *.a.example */
    assert_int_equal(pick(&f, "y.x.a.example", true), 0); /* any depth */
    assert_int_equal(pick(&f, "x.b.a.example", true), 2); /* the longer suffix */
    assert_int_equal(pick(&f, "b.a.example", true), 0);   /* *.b.a... needs a label more */
    assert_int_equal(pick(&f, "a.example", true), 1);     /* *.example */
    assert_int_equal(pick(&f, "x.d.example", true), 7);   /* routed, to the default's backend */
    assert_int_equal(pick(&f, "example", false), 7);      /* no label before: default */
    assert_int_equal(pick(&f, "other.test", false), 7);   /* no match: default */
    assert_int_equal(pick(&f, "", false), 7);             /* no name: default */
    assert_int_equal(pick(&f, "xa.example", true), 1);    /* a suffix is whole labels */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_built),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_openssl),
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
