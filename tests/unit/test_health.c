/* The passive half of health (health_report_connect): client connects that fail take a server
 * down after fall of them in a row, a success in between starts the count again, and a failed
 * connect begun before the server last came up (its SYN sent while it was down) counts for
 * nothing. Real targets of an engine that never runs a probe (kind none). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/clock.h"
#include "health/health.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>

struct fixture {
    struct event_base *base;
    struct health *engine;
    struct config_health hc;
    struct net_sockaddr addr;
    struct health_target *t;
};

static void on_change(void *arg, struct health_target *t, enum health_event ev)
{
    (void)arg;
    (void)t;
    (void)ev;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sockaddr_in *in = (struct sockaddr_in *)&f->addr.u.ss;
    f->base = event_base_new();
    f->engine = health_new(f->base, on_change, NULL);
    f->hc = (struct config_health){.kind = CONFIG_CHECK_NONE,
                                   .interval_ms = 1000,
                                   .timeout_ms = 500,
                                   .down_interval_ms = 1000,
                                   .rise = 2,
                                   .fall = 2};
    in->sin_family = AF_INET;
    in->sin_port = htons(6443);
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->addr.len = sizeof(*in);
    struct health_endpoint ep = {.addr = &f->addr, .host = "127.0.0.1"};
    f->t = health_target_new(f->engine, "servers/127.0.0.1:6443", &f->hc, &ep, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    health_target_free(f->t);
    health_free(f->engine);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void test_fall_failures_in_a_row_take_it_down(void **state)
{
    struct fixture *f = *state;
    uint64_t now = clock_now_ms();
    health_report_connect(f->t, false, now);
    assert_true(health_is_up(f->t));
    health_report_connect(f->t, false, now);
    assert_false(health_is_up(f->t));
}

static void test_a_success_starts_the_count_again(void **state)
{
    struct fixture *f = *state;
    uint64_t now = clock_now_ms();
    health_report_connect(f->t, false, now);
    health_report_connect(f->t, true, now);
    health_report_connect(f->t, false, now);
    assert_true(health_is_up(f->t));
}

static void test_a_connect_begun_before_it_came_up_counts_for_nothing(void **state)
{
    struct fixture *f = *state;
    uint64_t before = atomic_load(&f->t->up_at_ms) - 1;
    for (int i = 0; i < 5; i++)
        health_report_connect(f->t, false, before);
    assert_true(health_is_up(f->t));
    assert_int_equal(atomic_load(&f->t->passive_fails), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fall_failures_in_a_row_take_it_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_success_starts_the_count_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_connect_begun_before_it_came_up_counts_for_nothing,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
