/* The upgrade handover text: the largest config (256 workers, many listen addresses, long
 * addresses) survives the trip through K3LB_INHERIT_LISTEN whole, and damaged text is skipped
 * entry by entry, never trusted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/upgrade.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDRS   100
#define WORKERS 256

static void test_largest_config_round_trip(void **state)
{
    static int fds[ADDRS][WORKERS];
    static char names[ADDRS][300];
    struct upgrade_socket socks[ADDRS];
    (void)state;
    for (int a = 0; a < ADDRS; a++) {
        /* a long host name: the text is far over the 16 KiB a fixed buffer would hold */
        snprintf(names[a], sizeof(names[a]), "%0240d.example:%d", a, 10000 + a);
        for (int w = 0; w < WORKERS; w++)
            fds[a][w] = 1000000 + a * WORKERS + w;
        socks[a] = (struct upgrade_socket){names[a], fds[a], WORKERS};
    }
    char *text = upgrade_describe(socks, ADDRS);
    assert_true(strlen(text) > 16384 * 10);
    upgrade_parse_listen(text);
    free(text);
    for (int a = 0; a < ADDRS; a++)
        for (int w = 0; w < WORKERS; w++)
            assert_int_equal(upgrade_take_listen(names[a], (size_t)w), fds[a][w]);
    assert_int_equal(upgrade_take_listen(names[0], 0), -1); /* each taken once */
    assert_int_equal(upgrade_take_listen(names[0], WORKERS), -1);
    upgrade_forget();
}

static void test_damaged_text(void **state)
{
    (void)state;
    upgrade_parse_listen("=1,2;a:1=3,x,-4,99999999999,5;;b:2;c:3=");
    assert_int_equal(upgrade_take_listen("a:1", 0), 3);
    assert_int_equal(upgrade_take_listen("a:1", 1), 5); /* bad numbers skipped */
    assert_int_equal(upgrade_take_listen("a:1", 2), -1);
    assert_int_equal(upgrade_take_listen("b:2", 0), -1);
    assert_int_equal(upgrade_take_listen("c:3", 0), -1);
    assert_int_equal(upgrade_take_listen("", 0), -1);
    upgrade_forget();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_largest_config_round_trip),
        cmocka_unit_test(test_damaged_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
