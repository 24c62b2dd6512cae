/* The sticky manager (runtime_sticky_update): which server of an agent backend is ACTIVE and what
 * every other one is, as health changes. Health is set directly on real targets of a health
 * engine that never runs a probe (kind none). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/value.h"
#include "health/health.h"
#include "lb/balance.h"
#include "lb/server.h"
#include "runtime/sticky.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 4 /* three learned servers and the fixed address (standby) */

struct fixture {
    struct event_base *base;
    struct health *engine;
    struct config_health hc;
    struct config_backend backend;
    struct lb_pool pool;
    struct lb_server *srv[N];
    struct runtime_sticky_memo memo;
    uint64_t now; /* the clock the manager is given, in ms */
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
    char why[128], addr[32];
    f->base = event_base_new();
    f->engine = health_new(f->base, on_change, NULL);
    f->hc = (struct config_health){.kind = CONFIG_CHECK_NONE,
                                   .interval_ms = 1000,
                                   .timeout_ms = 500,
                                   .down_interval_ms = 1000,
                                   .rise = 2,
                                   .fall = 1};
    f->pool.cfg = &f->backend;
    f->pool.balance = CONFIG_BALANCE_STICKY;
    f->pool.n = N;
    f->pool.srv = f->srv;
    for (int i = 0; i < N; i++) {
        struct config_server cs = {.weight = 1};
        struct lb_server_ctx ctx = {.backend = "servers", .hc = &f->hc, .sticky = true};
        snprintf(addr, sizeof(addr), "127.0.0.%d:6443", i + 1);
        assert_true(config_parse_addr(addr, CONFIG_ADDR_TARGET, &cs.address, why, sizeof(why)));
        f->srv[i] = lb_server_new(&ctx, &cs, f->engine);
        config_addr_free(&cs.address);
    }
    f->srv[N - 1]->standby = true;
    f->now = 1000000; /* the fixed address, not in the learned list */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < N; i++)
        lb_server_unref(f->srv[i]);
    health_free(f->engine);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* What probes would have said: up or down, checked, last result, passes while down. */
static void set_health(struct fixture *f, int i, bool up, bool last_ok, unsigned rise_count)
{
    struct health_target *t = f->srv[i]->health;
    atomic_store(&t->up, up);
    t->last = last_ok ? HEALTH_RESULT_OK : HEALTH_RESULT_REFUSED;
    t->rise_count = rise_count;
}

static enum lb_agent_state state_of(struct fixture *f, int i)
{
    return (enum lb_agent_state)atomic_load(&f->srv[i]->agent_state);
}

static bool update(struct fixture *f)
{
    return runtime_sticky_update(&f->pool, &f->memo, f->now);
}

static void all_healthy(struct fixture *f)
{
    for (int i = 0; i < N; i++)
        set_health(f, i, true, true, 0);
}

static void test_first_healthy_becomes_active(void **state)
{
    struct fixture *f = *state;
    all_healthy(f);
    assert_true(update(f));  /* a new ACTIVE */
    assert_false(update(f)); /* the same one */
    assert_int_equal(state_of(f, 0), LB_AGENT_ACTIVE);
    assert_int_equal(state_of(f, 1), LB_AGENT_HEALTHY);
    assert_int_equal(state_of(f, 2), LB_AGENT_HEALTHY);
    assert_int_equal(state_of(f, 3), LB_AGENT_STANDBY);
    assert_string_equal(f->memo.active, "127.0.0.1:6443");
}

static void test_unchecked_is_not_promoted(void **state)
{
    struct fixture *f = *state;
    all_healthy(f);
    f->srv[0]->health->last = HEALTH_RESULT_NONE; /* up by default, never probed */
    update(f);
    assert_int_equal(state_of(f, 0), LB_AGENT_UNCHECKED);
    assert_int_equal(state_of(f, 1), LB_AGENT_ACTIVE);
}

static void test_failover_then_stickiness_then_preferred(void **state)
{
    struct fixture *f = *state;
    all_healthy(f);
    update(f);
    set_health(f, 0, false, false, 0); /* ACTIVE fails */
    assert_true(update(f));
    assert_int_equal(state_of(f, 0), LB_AGENT_FAILED);
    assert_int_equal(state_of(f, 1), LB_AGENT_ACTIVE);
    assert_string_equal(f->memo.previous, "127.0.0.1:6443");
    set_health(f, 0, false, true, 1); /* passing checks on its way back */
    update(f);
    assert_int_equal(state_of(f, 0), LB_AGENT_RECOVERING);
    set_health(f, 0, true, true, 0); /* back up: just recovered */
    f->now += 1000;
    assert_false(update(f));
    assert_int_equal(state_of(f, 0), LB_AGENT_PREFERRED);
    assert_int_equal(state_of(f, 1), LB_AGENT_ACTIVE); /* sticky: no steal */
    set_health(f, 1, true, false, 0);                  /* one failed probe, still up */
    update(f);
    assert_int_equal(state_of(f, 1), LB_AGENT_ACTIVE);
    set_health(f, 1, false, false, 0); /* down: PREFERRED wins over HEALTHY */
    assert_true(update(f));
    assert_int_equal(state_of(f, 0), LB_AGENT_ACTIVE);
    assert_int_equal(state_of(f, 2), LB_AGENT_HEALTHY);
    set_health(f, 1, true, true, 0); /* recovers: PREFERRED for a minute, then HEALTHY */
    update(f);
    assert_int_equal(state_of(f, 1), LB_AGENT_PREFERRED);
    f->now += 59000;
    update(f);
    assert_int_equal(state_of(f, 1), LB_AGENT_PREFERRED);
    f->now += 2000;
    update(f);
    assert_int_equal(state_of(f, 1), LB_AGENT_HEALTHY);
}

static void test_fixed_address_last_resort_and_failback(void **state)
{
    struct fixture *f = *state;
    all_healthy(f);
    update(f);
    for (int i = 0; i < N - 1; i++)
        set_health(f, i, false, false, 0);
    assert_true(update(f));
    assert_int_equal(state_of(f, 3), LB_AGENT_ACTIVE);
    set_health(f, 2, true, true, 0);
    assert_true(update(f)); /* the caller consolidates: the fixed address's conns close */
    assert_int_equal(state_of(f, 2), LB_AGENT_ACTIVE);
    assert_int_equal(state_of(f, 3), LB_AGENT_STANDBY);
}

static void test_nothing_up(void **state)
{
    struct fixture *f = *state;
    all_healthy(f);
    update(f);
    for (int i = 0; i < N; i++)
        set_health(f, i, false, false, 0);
    assert_false(update(f));
    for (int i = 0; i < N; i++)
        assert_int_equal(state_of(f, i), LB_AGENT_FAILED);
    assert_string_equal(f->memo.active, "");
}

static void test_active_leaves_the_list(void **state)
{
    struct fixture *f = *state;
    all_healthy(f);
    update(f);
    f->pool.srv = f->srv + 1; /* a new view without server 0 */
    f->pool.n = N - 1;
    update(f);
    assert_int_equal(state_of(f, 1), LB_AGENT_ACTIVE);
    assert_string_equal(f->memo.previous, "127.0.0.1:6443");
    f->pool.srv = f->srv;
    f->pool.n = N;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_healthy_becomes_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchecked_is_not_promoted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover_then_stickiness_then_preferred, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fixed_address_last_resort_and_failback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nothing_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_active_leaves_the_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
