/* PROXY protocol headers (common/proxyproto.c): what a strict reader takes and refuses, at
 * every length a header may arrive in, and that what k3lb writes reads back the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static enum proxyproto_status parse(const void *b, size_t n, struct proxyproto_addrs *a,
                                    size_t *used, char *err)
{
    return proxyproto_parse(b, n, a, used, err, 200);
}

/* Every proper prefix of a complete header asks for more; the whole of it is taken. */
static void whole_and_prefixes(const void *b, size_t n, struct proxyproto_addrs *a)
{
    char err[200];
    size_t used;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(parse(b, i, a, &used, err), PROXYPROTO_MORE);
    assert_int_equal(parse(b, n, a, &used, err), PROXYPROTO_DONE);
    assert_int_equal(used, n);
}

static void expect_bad(const void *b, size_t n, const char *why)
{
    struct proxyproto_addrs a;
    char err[200] = "";
    size_t used;
    assert_int_equal(parse(b, n, &a, &used, err), PROXYPROTO_BAD);
    if (!strstr(err, why))
        fail_msg("'%s' does not say '%s'", err, why);
}

static const char *ip_port(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
    return buf;
}

static void test_v1(void **state)
{
    struct proxyproto_addrs a;
    char buf[80];
    const char *h4 = "PROXY TCP4 192.0.2.10 198.51.100.1 56324 6443\r\n";
    const char *h6 = "PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n";
    (void)state;
    whole_and_prefixes(h4, strlen(h4), &a);
    assert_true(a.has);
    assert_int_equal(a.version, 1);
    assert_string_equal(ip_port(&a.src, buf, sizeof(buf)), "192.0.2.10:56324");
    assert_string_equal(ip_port(&a.dst, buf, sizeof(buf)), "198.51.100.1:6443");
    whole_and_prefixes(h6, strlen(h6), &a);
    assert_string_equal(ip_port(&a.src, buf, sizeof(buf)), "[2001:db8::1]:65535");
    whole_and_prefixes("PROXY UNKNOWN\r\n", 15, &a);
    assert_false(a.has);
    whole_and_prefixes("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 35, &a);
    assert_false(a.has);
}

static void test_v1_refused(void **state)
{
    char long_line[120];
    (void)state;
    expect_bad("GET / HTTP/1.1\r\n", 16, "not a PROXY protocol header");
    expect_bad("proxy TCP4", 10, "not a PROXY protocol header");
    expect_bad("PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n", 33, "empty field");
    expect_bad("PROXY TCP4 1.2.3.4 1.2.3.4 1 \r\n", 31, "empty field");
    expect_bad("PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", 32, "TCP4, TCP6 or UNKNOWN");
    expect_bad("PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", 30, "four fields");
    expect_bad("PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", 34, "more than six");
    expect_bad("PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n", 33, "IPv4 address and port");
    expect_bad("PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n", 36, "IPv4 address and port");
    expect_bad("PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n", 34, "IPv4 address and port");
    expect_bad("PROXY TCP4 ::1 ::1 1 2\r\n", 24, "IPv4 address and port");
    expect_bad("PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n", 32, "IPv6 address and port");
    expect_bad("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", 31, "not printable");
    expect_bad("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX", 32, "CR not followed by LF");
    memset(long_line, 'A', sizeof(long_line));
    memcpy(long_line, "PROXY UNKNOWN ", 14);
    expect_bad(long_line, sizeof(long_line), "no CRLF within 107 bytes");
    expect_bad(long_line, 107, "no CRLF within 107 bytes");
}

static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A v2 header: command byte, family byte, then body of n bytes. */
static size_t v2(unsigned char *out, unsigned cmd, unsigned fam, const void *body, size_t n)
{
    memcpy(out, sig, 12);
    out[12] = (unsigned char)cmd;
    out[13] = (unsigned char)fam;
    out[14] = (unsigned char)(n >> 8);
    out[15] = (unsigned char)n;
    memcpy(out + 16, body, n);
    return 16 + n;
}

static void test_v2(void **state)
{
    struct proxyproto_addrs a;
    unsigned char b[1200], body[64];
    char buf[80];
    size_t n;
    (void)state;
    /* TCP4 10.1.2.3:40000 -> 10.9.9.9:443, with an ALPN TLV and a NOOP TLV */
    memcpy(body, "\x0a\x01\x02\x03\x0a\x09\x09\x09\x9c\x40\x01\xbb", 12);
    memcpy(body + 12, "\x01\x00\x02h2\x04\x00\x00", 8);
    n = v2(b, 0x21, 0x11, body, 20);
    whole_and_prefixes(b, n, &a);
    assert_true(a.has);
    assert_int_equal(a.version, 2);
    assert_string_equal(ip_port(&a.src, buf, sizeof(buf)), "10.1.2.3:40000");
    assert_string_equal(ip_port(&a.dst, buf, sizeof(buf)), "10.9.9.9:443");
    /* LOCAL: a health check of the proxy itself; whatever family, no addresses */
    n = v2(b, 0x20, 0x00, body, 0);
    whole_and_prefixes(b, n, &a);
    assert_false(a.has);
    /* PROXY with an unspecified family, and a unix one: no IP addresses to take */
    n = v2(b, 0x21, 0x00, body, 0);
    whole_and_prefixes(b, n, &a);
    assert_false(a.has);
    memset(b + 16, 0, 216);
    n = v2(b, 0x21, 0x31, b + 16, 216);
    whole_and_prefixes(b, n, &a);
    assert_false(a.has);
}

static void test_v2_refused(void **state)
{
    unsigned char b[1200], body[1100] = {0};
    (void)state;
    expect_bad(b, v2(b, 0x11, 0x11, body, 12), "version is not 2");
    expect_bad(b, v2(b, 0x22, 0x11, body, 12), "neither LOCAL nor PROXY");
    expect_bad(b, v2(b, 0x21, 0x12, body, 12), "datagram");
    expect_bad(b, v2(b, 0x21, 0x41, body, 12), "unknown address family");
    expect_bad(b, v2(b, 0x21, 0x11, body, 11), "too short");
    expect_bad(b, v2(b, 0x21, 0x21, body, 35), "too short");
    memcpy(body + 12, "\x01\x00\x05hi", 5); /* a TLV claiming 5 bytes, 2 there */
    expect_bad(b, v2(b, 0x21, 0x11, body, 17), "TLVs");
    expect_bad(b, v2(b, 0x21, 0x11, body, 14), "TLVs"); /* 2 stray bytes */
    expect_bad(b, v2(b, 0x21, 0x11, body, 1009), "longer than 1024");
    b[0] = 0x0d;
    b[1] = 0x0a;
    b[2] = 0x0d;
    b[3] = 'X';
    expect_bad(b, 4, "not a PROXY protocol header");
}

static struct sockaddr_storage inet(const char *ip, unsigned port)
{
    struct sockaddr_storage ss = {0};
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *in6 = (void *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, ip, &in6->sin6_addr);
    } else {
        struct sockaddr_in *in = (void *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &in->sin_addr);
    }
    return ss;
}

/* Written, then read back: the same addresses, in the family both can share. */
static void round_trip(int version, const char *src, const char *dst, const char *want_src,
                       const char *want_dst)
{
    struct sockaddr_storage s = inet(src, 40000), d = inet(dst, 6443);
    unsigned char out[PROXYPROTO_BUILD_MAX];
    struct proxyproto_addrs a;
    char err[200], buf[80];
    size_t used, n = proxyproto_build(version, (void *)&s, (void *)&d, out);
    assert_true(n <= PROXYPROTO_BUILD_MAX);
    assert_int_equal(parse(out, n, &a, &used, err), PROXYPROTO_DONE);
    assert_int_equal(used, n);
    assert_int_equal(a.version, version);
    assert_true(a.has);
    assert_string_equal(ip_port(&a.src, buf, sizeof(buf)), want_src);
    assert_string_equal(ip_port(&a.dst, buf, sizeof(buf)), want_dst);
}

static void test_build(void **state)
{
    unsigned char out[PROXYPROTO_BUILD_MAX];
    struct proxyproto_addrs a;
    char err[200];
    size_t used, n;
    (void)state;
    for (int v = 1; v <= 2; v++) {
        round_trip(v, "192.0.2.1", "192.0.2.2", "192.0.2.1:40000", "192.0.2.2:6443");
        round_trip(v, "2001:db8::1", "2001:db8::2", "[2001:db8::1]:40000", "[2001:db8::2]:6443");
        /* a dual-stack listener sees IPv4 clients as mapped addresses */
        round_trip(v, "::ffff:192.0.2.1", "::ffff:192.0.2.2", "192.0.2.1:40000", "192.0.2.2:6443");
        round_trip(v, "192.0.2.1", "2001:db8::2", "[::ffff:192.0.2.1]:40000", "[2001:db8::2]:6443");
        n = proxyproto_build(v, NULL, NULL, out);
        assert_int_equal(parse(out, n, &a, &used, err), PROXYPROTO_DONE);
        assert_false(a.has);
    }
    /* the longest v1 line fits the bound */
    struct sockaddr_storage s = inet("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
    n = proxyproto_build(1, (void *)&s, (void *)&s, out);
    assert_int_equal(n, 104);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1),    cmocka_unit_test(test_v1_refused),
        cmocka_unit_test(test_v2),    cmocka_unit_test(test_v2_refused),
        cmocka_unit_test(test_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
