/* The passive half of health (health_report_connect): client connects that fail take a server
 * down after fall of them in a row, a success in between starts the count again, and a failed
 * connect begun before the server last came up (its SYN sent while it was down) counts for
 * nothing. Real targets of an engine that never runs a probe (kind none). And the agent-check
 * answer reader: HAProxy's words, separators, bounds and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/clock.h"
#include "health/agent.h"
#include "health/check.h"
#include "health/health.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

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

/* The rise/fall machine (rise 2, fall 2, the target starts up): fall failures in a row take it
 * down, a pass between them starts the count again; rise passes bring it back, a failure
 * between them starts that count again; a busy answer and a shortage of our own change
 * nothing; a server that says it is shutting down goes at once. */
static void test_rise_and_fall(void **state)
{
    struct fixture *f = *state;
    struct health_status st;
    health_record(f->t, HEALTH_RESULT_REFUSED, NULL);
    health_record(f->t, HEALTH_RESULT_OK, NULL);
    health_record(f->t, HEALTH_RESULT_REFUSED, NULL);
    assert_true(health_is_up(f->t)); /* never two in a row */
    health_record(f->t, HEALTH_RESULT_BUSY, "busy");
    health_record(f->t, HEALTH_RESULT_NO_RESOURCES, "out of descriptors");
    assert_true(health_is_up(f->t)); /* neither is a verdict */
    health_record(f->t, HEALTH_RESULT_TIMEOUT, NULL);
    assert_false(health_is_up(f->t));
    health_record(f->t, HEALTH_RESULT_OK, NULL);
    health_record(f->t, HEALTH_RESULT_RESET, NULL);
    health_record(f->t, HEALTH_RESULT_OK, NULL);
    assert_false(health_is_up(f->t)); /* the failure started the count again */
    health_record(f->t, HEALTH_RESULT_OK, NULL);
    assert_true(health_is_up(f->t));
    health_record(f->t, HEALTH_RESULT_SHUTTING_DOWN, "the server is shutting down");
    assert_false(health_is_up(f->t)); /* no second failure needed */
    health_target_status(f->t, &st);
    assert_int_equal(st.transitions, 3);
    assert_int_equal(st.checks, 10); /* busy is a check; the shortage is not */
    assert_string_equal(st.detail, "the server is shutting down");
}

static struct health_agent_reply agent_says(const char *line, int want_rc, const char *err_has)
{
    struct health_agent_reply r;
    char err[120] = "";
    assert_int_equal(health_agent_parse(line, strlen(line), &r, err, sizeof(err)), want_rc);
    if (err_has && !strstr(err, err_has))
        fail_msg("'%s' does not say '%s'", err, err_has);
    return r;
}

static void test_agent_words(void **state)
{
    struct health_agent_reply r;
    (void)state;
    r = agent_says("up 75%", 0, NULL);
    assert_int_equal(r.up, 1);
    assert_int_equal(r.weight_pct, 75);
    assert_int_equal(r.admin, -1);
    r = agent_says("DRAIN,maxconn:10\t# going away  ", 0, NULL);
    assert_int_equal(r.admin, HEALTH_AGENT_DRAIN);
    assert_int_equal(r.maxconn, 10);
    assert_string_equal(r.why, "going away");
    assert_int_equal(r.up, -1);
    r = agent_says("stopped maint", 0, NULL);
    assert_int_equal(r.up, 0);
    assert_int_equal(r.admin, HEALTH_AGENT_MAINT);
    r = agent_says("failed #disk full", 0, NULL);
    assert_int_equal(r.up, 0);
    assert_string_equal(r.why, "disk full");
    r = agent_says("", 0, NULL); /* says nothing: changes nothing */
    assert_int_equal(r.up, -1);
    assert_int_equal(r.weight_pct, -1);
    r = agent_says("0% ready", 0, NULL);
    assert_int_equal(r.weight_pct, 0);
    assert_int_equal(r.admin, HEALTH_AGENT_READY);
    agent_says("101%", -1, "unknown word '101%'");
    agent_says("up fast", -1, "unknown word 'fast'");
    agent_says("maxconn:", -1, "unknown word");
    agent_says("%", -1, "unknown word");
    agent_says("maxconn:99999999", -1, "unknown word");
    struct health_agent_reply nul;
    char err[120];
    assert_int_equal(health_agent_parse("up\0", 3, &nul, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "NUL"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fall_failures_in_a_row_take_it_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_success_starts_the_count_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_connect_begun_before_it_came_up_counts_for_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rise_and_fall, setup, teardown),
        cmocka_unit_test(test_agent_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
