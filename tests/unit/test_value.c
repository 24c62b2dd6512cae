/* Single-value parsers: durations, addresses, numbers, booleans, names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/value.h"
#include "common/net.h"

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

static void duration_ok(const char *s, uint64_t want)
{
    uint64_t ms = 12345;
    char why[256];
    assert_true(config_parse_duration(s, &ms, why, sizeof(why)));
    assert_int_equal(ms, want);
}

static void duration_bad(const char *s, const char *reason)
{
    uint64_t ms;
    char why[256];
    assert_false(config_parse_duration(s, &ms, why, sizeof(why)));
    assert_non_null(strstr(why, reason));
}

static void test_durations(void **state)
{
    (void)state;
    duration_ok("0", 0);
    duration_ok("500ms", 500);
    duration_ok("3s", 3000);
    duration_ok("1m30s", 90000);
    duration_ok("1h", 3600000);
    duration_ok("1.5s", 1500);
    duration_ok("2d", 172800000);
    duration_bad("", "empty");
    duration_bad("3", "unit");
    duration_bad("3 s", "unit");
    duration_bad("s", "expected a number");
    duration_bad("3x", "unit");
    duration_bad("-1s", "expected a number");
    duration_bad("400d", "longer than a year");
    duration_bad("99999999999999999999h", "");
    duration_bad("1.0005s", "finer than a millisecond");
}

static void test_duration_format(void **state)
{
    char buf[32];
    (void)state;
    config_format_duration(0, buf, sizeof(buf));
    assert_string_equal(buf, "0");
    config_format_duration(90000, buf, sizeof(buf));
    assert_string_equal(buf, "1m30s");
    config_format_duration(1500, buf, sizeof(buf));
    assert_string_equal(buf, "1s500ms");
}

static void addr_ok(const char *s, enum config_addr_use use, const char *host, unsigned port)
{
    struct net_addr a;
    char why[256];
    assert_true(config_parse_addr(s, use, &a, why, sizeof(why)));
    if (host)
        assert_string_equal(a.host, host);
    else
        assert_null(a.host);
    assert_int_equal(a.port, port);
    assert_string_equal(a.text, s);
    config_addr_free(&a);
}

static void addr_bad(const char *s, enum config_addr_use use, const char *reason)
{
    struct net_addr a;
    char why[256];
    assert_false(config_parse_addr(s, use, &a, why, sizeof(why)));
    if (!strstr(why, reason))
        fail_msg("'%s': reason '%s' lacks '%s'", s, why, reason);
}

static void test_addresses(void **state)
{
    struct net_addr a;
    char why[256];
    (void)state;
    addr_ok("10.0.0.11:6443", CONFIG_ADDR_TARGET, "10.0.0.11", 6443);
    addr_ok("server2.example:6443", CONFIG_ADDR_TARGET, "server2.example", 6443);
    addr_ok("[::1]:2379", CONFIG_ADDR_LISTEN, "::1", 2379);
    addr_ok(":6443", CONFIG_ADDR_LISTEN, NULL, 6443);
    addr_bad(":6443", CONFIG_ADDR_TARGET, "needs a host");
    addr_bad("10.0.0.1", CONFIG_ADDR_TARGET, "no port");
    addr_bad("10.0.0.1:", CONFIG_ADDR_TARGET, "no port");
    addr_bad("10.0.0.1:0", CONFIG_ADDR_TARGET, "1..65535");
    addr_bad("10.0.0.1:65536", CONFIG_ADDR_TARGET, "1..65535");
    addr_bad("10.0.0.1:http", CONFIG_ADDR_TARGET, "not a number");
    addr_bad("::1:6443", CONFIG_ADDR_LISTEN, "brackets");
    addr_bad("[::1:6443", CONFIG_ADDR_LISTEN, "missing ']'");
    addr_bad("[::1]6443", CONFIG_ADDR_LISTEN, "expected ':port'");
    addr_bad("[zz]:1", CONFIG_ADDR_LISTEN, "not an IPv6");
    addr_bad("bad host:1", CONFIG_ADDR_TARGET, "not a valid host");
    addr_bad("https://a:1", CONFIG_ADDR_TARGET, "without a scheme");
    addr_bad("unix:/run/x.sock", CONFIG_ADDR_LISTEN, "only for the admin");
    addr_bad("unix:rel.sock", CONFIG_ADDR_ADMIN, "absolute");
    assert_true(
        config_parse_addr("unix:/run/k3lb/admin.sock", CONFIG_ADDR_ADMIN, &a, why, sizeof(why)));
    assert_int_equal(a.kind, NET_ADDR_UNIX);
    assert_string_equal(a.path, "/run/k3lb/admin.sock");
    config_addr_free(&a);
}

static void test_overlap(void **state)
{
    struct net_addr a, b, c, d;
    char why[64];
    (void)state;
    assert_true(config_parse_addr(":6443", CONFIG_ADDR_LISTEN, &a, why, sizeof(why)));
    assert_true(config_parse_addr("127.0.0.1:6443", CONFIG_ADDR_LISTEN, &b, why, sizeof(why)));
    assert_true(config_parse_addr("127.0.0.2:6443", CONFIG_ADDR_LISTEN, &c, why, sizeof(why)));
    assert_true(config_parse_addr("127.0.0.1:2379", CONFIG_ADDR_LISTEN, &d, why, sizeof(why)));
    assert_true(config_addr_overlap(&a, &b));
    assert_false(config_addr_overlap(&b, &c));
    assert_false(config_addr_overlap(&b, &d));
    assert_true(config_addr_overlap(&b, &b));
    config_addr_free(&a);
    config_addr_free(&b);
    config_addr_free(&c);
    config_addr_free(&d);
}

static void test_numbers(void **state)
{
    uint64_t v;
    bool b;
    char why[256];
    (void)state;
    assert_true(config_parse_uint("42", 0, 100, false, &v, why, sizeof(why)));
    assert_int_equal(v, 42);
    assert_false(config_parse_uint("101", 0, 100, false, &v, why, sizeof(why)));
    assert_non_null(strstr(why, "out of range 0..100"));
    assert_false(config_parse_uint("-1", 0, 100, false, &v, why, sizeof(why)));
    assert_false(config_parse_uint("1.5", 0, 100, false, &v, why, sizeof(why)));
    assert_false(config_parse_uint("16k", 0, 1 << 20, false, &v, why, sizeof(why)));
    assert_true(config_parse_uint("16k", 0, 1 << 20, true, &v, why, sizeof(why)));
    assert_int_equal(v, 16384);
    assert_true(config_parse_uint("1MiB", 0, 1 << 20, true, &v, why, sizeof(why)));
    assert_int_equal(v, 1 << 20);
    assert_false(config_parse_uint("2m", 0, 1 << 20, true, &v, why, sizeof(why)));
    assert_false(
        config_parse_uint("99999999999999999999999", 0, UINT64_MAX, false, &v, why, sizeof(why)));
    assert_true(config_parse_bool("yes", &b, why, sizeof(why)) && b);
    assert_true(config_parse_bool("False", &b, why, sizeof(why)) && !b);
    assert_false(config_parse_bool("maybe", &b, why, sizeof(why)));
}

static void test_enum_and_closest(void **state)
{
    static const char *const names[] = {"roundrobin", "leastconn", "random",
                                        "source",     "first",     NULL};
    char why[256];
    (void)state;
    assert_int_equal(config_parse_enum("source", names, why, sizeof(why)), 3);
    assert_int_equal(config_parse_enum("leastconns", names, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "did you mean 'leastconn'"));
    assert_non_null(strstr(why, "expected one of roundrobin, leastconn"));
    assert_int_equal(config_parse_enum("xyz", names, why, sizeof(why)), -1);
    assert_null(strstr(why, "did you mean"));
    assert_string_equal(config_closest("balanse", (const char *const[]){"balance", "name", NULL}),
                        "balance");
    assert_null(config_closest("zzzzzz", (const char *const[]){"balance", "name", NULL}));
}

/* Proxy URLs as HTTPS_PROXY holds them; credentials become Proxy-Authorization and are never
 * quoted in an error. */
static void test_proxy_url(void **state)
{
    char hp[300], why[300], *auth = NULL;
    (void)state;
    assert_true(
        config_parse_proxy_url("http://proxy.corp:3128", hp, sizeof(hp), &auth, why, sizeof(why)));
    assert_string_equal(hp, "proxy.corp:3128");
    assert_null(auth);
    assert_true(config_parse_proxy_url("10.0.0.1", hp, sizeof(hp), &auth, why, sizeof(why)));
    assert_string_equal(hp, "10.0.0.1:80");
    assert_true(config_parse_proxy_url("http://u%40x:p%2Fw@[fd00::1]:8080/", hp, sizeof(hp), &auth,
                                       why, sizeof(why)));
    assert_string_equal(hp, "[fd00::1]:8080");
    assert_string_equal(auth, "Basic dUB4OnAvdw=="); /* base64("u@x:p/w") */
    free(auth);
    assert_false(
        config_parse_proxy_url("https://u:topsecret@p:1", hp, sizeof(hp), &auth, why, sizeof(why)));
    assert_non_null(strstr(why, "only http://"));
    assert_null(strstr(why, "topsecret"));
    assert_false(config_parse_proxy_url("http://u:topsecret@p:1/path", hp, sizeof(hp), &auth, why,
                                        sizeof(why)));
    assert_null(strstr(why, "topsecret"));
    assert_null(auth);
    assert_false(
        config_parse_proxy_url("http://nopassword@p:1", hp, sizeof(hp), &auth, why, sizeof(why)));
}

/* NO_PROXY as Go's httpproxy (and so K3s) reads it. */
static struct sockaddr_storage sa_of(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    return ss;
}

static bool in(const char *cidr, const char *ip)
{
    struct net_cidr c;
    struct sockaddr_storage ss = sa_of(ip);
    assert_true(net_cidr_parse(cidr, &c));
    return net_cidr_match(&c, (struct sockaddr *)&ss);
}

static void server_url_ok(const char *url, const char *want)
{
    char out[300], why[200];
    assert_true(config_parse_server_url(url, out, sizeof(out), why, sizeof(why)));
    assert_string_equal(out, want);
}

/* As K3s's agent balancer reads --server: https:// without a port is 443. */
static void test_server_url(void **state)
{
    char out[300], why[200];
    (void)state;
    server_url_ok("https://k3s.example:6443", "k3s.example:6443");
    server_url_ok("https://k3s.example:6443/", "k3s.example:6443");
    server_url_ok("https://k3s.example", "k3s.example:443");
    server_url_ok("https://[fd00::1]", "[fd00::1]:443");
    server_url_ok("k3s.example", "k3s.example:6443");
    assert_false(config_parse_server_url("http://k3s.example", out, sizeof(out), why, sizeof(why)));
    assert_non_null(strstr(why, "must use https://"));
    assert_false(
        config_parse_server_url("https://k3s.example/x", out, sizeof(out), why, sizeof(why)));
    assert_non_null(strstr(why, "must not have a path"));
}

static void test_cidr(void **state)
{
    struct net_cidr c;
    (void)state;
    assert_true(in("10.0.0.0/8", "10.200.1.2"));
    assert_false(in("10.0.0.0/8", "11.0.0.1"));
    assert_true(in("192.0.2.7", "192.0.2.7"));
    assert_false(in("192.0.2.7", "192.0.2.8"));
    assert_true(in("0.0.0.0/0", "203.0.113.9"));
    assert_true(in("10.1.2.3/16", "10.1.99.99")); /* host bits below the prefix are ignored */
    assert_true(in("fd00::/8", "fd12::1"));
    assert_false(in("fd00::/8", "fe80::1"));
    assert_true(in("10.0.0.0/8", "::ffff:10.9.8.7")); /* from a dual-stack listener */
    assert_false(in("::/0", "10.0.0.1"));             /* families never mix otherwise */
    assert_true(in("127.0.0.0/30", "127.0.0.3"));
    assert_false(in("127.0.0.0/30", "127.0.0.4"));
    assert_false(in("127.0.0.0/31", "127.0.0.2"));
    assert_false(net_cidr_parse("10.0.0.0/33", &c));
    assert_false(net_cidr_parse("fd00::/129", &c));
    assert_false(net_cidr_parse("10.0.0.0/", &c));
    assert_false(net_cidr_parse("10.0.0.0/-1", &c));
    assert_false(net_cidr_parse("10.0.0.0/8x", &c));
    assert_false(net_cidr_parse("/8", &c));
    assert_false(net_cidr_parse("example.com/8", &c));
    assert_false(net_cidr_parse("", &c));
}

static void test_no_proxy(void **state)
{
    (void)state;
    assert_true(config_no_proxy(NULL, "127.0.0.5", 6443)); /* loopback never */
    assert_true(config_no_proxy(NULL, "localhost", 6443));
    assert_true(config_no_proxy(NULL, "::1", 6443));
    assert_false(config_no_proxy(NULL, "10.0.0.1", 6443));
    assert_false(config_no_proxy("", "10.0.0.1", 6443));
    assert_true(config_no_proxy("*", "k3s.example", 6443));
    assert_true(config_no_proxy("10.0.0.0/8", "10.2.3.4", 6443));
    assert_false(config_no_proxy("10.0.0.0/8", "11.2.3.4", 6443));
    assert_true(config_no_proxy("fd00::/8", "fd12::1", 6443));
    assert_true(config_no_proxy(" a.example , .corp.example", "k3s.corp.example", 6443));
    assert_true(config_no_proxy("corp.example", "corp.example", 6443));
    assert_true(config_no_proxy("corp.example", "k3s.corp.example", 6443));
    assert_false(config_no_proxy("corp.example", "xcorp.example", 6443));
    assert_true(config_no_proxy("*.corp.example", "k3s.corp.example", 6443));
    assert_true(config_no_proxy("K3S.Example:6443", "k3s.example", 6443));
    assert_false(config_no_proxy("k3s.example:9345", "k3s.example", 6443));
    assert_true(config_no_proxy("10.0.0.1", "10.0.0.1", 6443));
    assert_true(config_no_proxy("[fd00::1]:6443", "fd00::1", 6443));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations), cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_addresses), cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_numbers),   cmocka_unit_test(test_enum_and_closest),
        cmocka_unit_test(test_proxy_url), cmocka_unit_test(test_no_proxy),
        cmocka_unit_test(test_cidr),      cmocka_unit_test(test_server_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
