/* Per-source limits (lb/source.c): keys (IPv4 whole, IPv6 per prefix, IPv4-mapped as IPv4),
 * the open-connections count, and the sliding-second rate at chosen instants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lb/source.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    return ss;
}

static void same_key(const char *a, const char *b, unsigned prefix6, bool same)
{
    unsigned char ka[16], kb[16];
    struct sockaddr_storage sa = addr(a), sb = addr(b);
    lb_source_key((struct sockaddr *)&sa, prefix6, ka);
    lb_source_key((struct sockaddr *)&sb, prefix6, kb);
    if ((memcmp(ka, kb, 16) == 0) != same)
        fail_msg("%s and %s at /%u: %s", a, b, prefix6, same ? "differ" : "are the same");
}

static void test_keys(void **state)
{
    (void)state;
    same_key("2001:db8:1:2::1", "2001:db8:1:2::ffff", 64, true);
    same_key("2001:db8:1:2::1", "2001:db8:1:3::1", 64, false);
    same_key("2001:db8:1:2::1", "2001:db8:1:2::2", 128, false);
    same_key("192.0.2.1", "::ffff:192.0.2.1", 64, true); /* a dual-stack listener's IPv4 */
    same_key("192.0.2.1", "192.0.2.2", 16, false);       /* IPv4 is never masked */
}

static enum lb_src_verdict admit(struct lb_srctab *t, const struct lb_src_limits *lim,
                                 const char *ip, uint64_t now, struct lb_src_entry **held)
{
    struct sockaddr_storage sa = addr(ip);
    return lb_source_admit(t, lim, (struct sockaddr *)&sa, now, held);
}

static void test_conns(void **state)
{
    struct lb_srctab *t = lb_source_new();
    struct lb_src_limits lim = {.max_conns = 2, .prefix6 = 64};
    struct lb_src_entry *a, *b, *c;
    (void)state;
    assert_int_equal(admit(t, &lim, "2001:db8::1", 1000, &a), LB_SRC_OK);
    assert_int_equal(admit(t, &lim, "2001:db8::2", 1000, &b), LB_SRC_OK); /* the same /64 */
    assert_int_equal(admit(t, &lim, "2001:db8::3", 1000, &c), LB_SRC_CONNS);
    assert_null(c);
    assert_int_equal(admit(t, &lim, "2001:db8:0:1::1", 1000, &c), LB_SRC_OK); /* another /64 */
    lb_source_release(t, c);
    lb_source_release(t, a);
    assert_int_equal(admit(t, &lim, "2001:db8::3", 1000, &a), LB_SRC_OK);
    lb_source_release(t, a);
    lb_source_release(t, b);
    lb_source_free(t);
}

static void test_rate(void **state)
{
    struct lb_srctab *t = lb_source_new();
    struct lb_src_limits lim = {.max_rate = 5, .prefix6 = 128};
    struct lb_src_entry *e;
    unsigned ok = 0;
    (void)state;
    for (int i = 0; i < 8; i++) /* 8 in second 10: 5 admitted */
        if (admit(t, &lim, "192.0.2.1", 10000 + (uint64_t)i, &e) == LB_SRC_OK) {
            ok++;
            lb_source_release(t, e);
        }
    assert_int_equal(ok, 5);
    assert_int_equal(admit(t, &lim, "192.0.2.9", 10500, &e), LB_SRC_OK); /* another source */
    lb_source_release(t, e);
    /* Half into second 11, half of second 10's five still count: 2 (rounded down) + new ones */
    ok = 0;
    for (int i = 0; i < 8; i++)
        if (admit(t, &lim, "192.0.2.1", 11500, &e) == LB_SRC_OK) {
            ok++;
            lb_source_release(t, e);
        }
    assert_int_equal(ok, 3);
    /* Two seconds on: a fresh window. */
    assert_int_equal(admit(t, &lim, "192.0.2.1", 13000, &e), LB_SRC_OK);
    lb_source_release(t, e);
    lb_source_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_conns),
        cmocka_unit_test(test_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
