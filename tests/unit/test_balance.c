/* Balancing algorithms over pools of real lb_server objects (no sockets, no health engine). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/value.h"
#include "lb/balance.h"
#include "common/net.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    struct lb_pool pool;
    struct balance_state st;
    struct config_backend backend;
};

/* A pool of n servers; server i at addrs[i], or 127.0.0.<i+1>:<1000+i> when addrs is NULL. */
static struct fixture *make_pool_at(enum config_balance alg, size_t n, const unsigned *weights,
                                    const bool *backup, const char *const *addrs)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char why[128], addr[32];
    assert_non_null(f);
    f->pool.cfg = &f->backend;
    f->pool.balance = alg;
    f->pool.n = n;
    f->pool.srv = calloc(n, sizeof(*f->pool.srv));
    for (size_t i = 0; i < n; i++) {
        struct config_server cs = {.weight = weights ? weights[i] : 1,
                                   .backup = backup ? backup[i] : false};
        if (addrs)
            snprintf(addr, sizeof(addr), "%s", addrs[i]);
        else
            snprintf(addr, sizeof(addr), "127.0.0.%zu:%zu", i % 250 + 1, 1000 + i);
        assert_true(config_parse_addr(addr, CONFIG_ADDR_TARGET, &cs.address, why, sizeof(why)));
        struct lb_server_ctx ctx = {.backend = "b"};
        f->pool.srv[i] = lb_server_new(&ctx, &cs, NULL);
        config_addr_free(&cs.address);
    }
    balance_state_init(&f->st, n, 42);
    return f;
}

static struct fixture *make_pool(enum config_balance alg, size_t n, const unsigned *weights,
                                 const bool *backup)
{
    return make_pool_at(alg, n, weights, backup, NULL);
}

static void free_pool(struct fixture *f)
{
    for (size_t i = 0; i < f->pool.n; i++)
        lb_server_unref(f->pool.srv[i]);
    free(f->pool.srv);
    balance_state_free(&f->st);
    free(f);
}

static int pick(struct fixture *f, uint64_t client)
{
    return balance_pick(&f->pool, &f->st, client, NULL);
}

static void set_admin(struct fixture *f, size_t i, enum lb_admin_state s)
{
    atomic_store(&f->pool.srv[i]->admin, s);
}

static void test_smooth_roundrobin_sequence(void **state)
{
    const unsigned w[] = {4, 2, 1};
    struct fixture *f = make_pool(CONFIG_BALANCE_ROUNDROBIN, 3, w, NULL);
    const int want[] = {0, 1, 0, 2, 0, 1, 0};
    (void)state;
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < 7; i++)
            assert_int_equal(pick(f, 0), want[i]);
    free_pool(f);
}

static void test_roundrobin_equal_and_skips(void **state)
{
    const unsigned w[] = {1, 1, 1, 0};
    struct fixture *f = make_pool(CONFIG_BALANCE_ROUNDROBIN, 4, w, NULL);
    int count[4] = {0};
    (void)state;
    for (int i = 0; i < 300; i++)
        count[pick(f, 0)]++;
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 100);
    assert_int_equal(count[3], 0); /* weight 0 takes nothing */
    set_admin(f, 1, LB_ADMIN_DRAIN);
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 100; i++)
        count[pick(f, 0)]++;
    assert_int_equal(count[1], 0);
    assert_int_equal(count[0], 50);
    assert_int_equal(count[2], 50);
    free_pool(f);
}

static void test_leastconn(void **state)
{
    struct fixture *f = make_pool(CONFIG_BALANCE_LEASTCONN, 3, NULL, NULL);
    int count[3] = {0};
    (void)state;
    atomic_store(&f->pool.srv[0]->c.active, 5);
    atomic_store(&f->pool.srv[1]->c.active, 2);
    atomic_store(&f->pool.srv[2]->c.active, 7);
    assert_int_equal(pick(f, 0), 1);
    /* ties rotate instead of piling onto the first server */
    for (int i = 0; i < 3; i++)
        atomic_store(&f->pool.srv[i]->c.active, 4);
    for (int i = 0; i < 30; i++)
        count[pick(f, 0)]++;
    assert_int_equal(count[0], 10);
    assert_int_equal(count[1], 10);
    assert_int_equal(count[2], 10);
    free_pool(f);
}

static void test_leastconn_weighted(void **state)
{
    const unsigned w[] = {1, 4};
    struct fixture *f = make_pool(CONFIG_BALANCE_LEASTCONN, 2, w, NULL);
    (void)state;
    /* 3 conns at weight 4 is lighter than 1 conn at weight 1 */
    atomic_store(&f->pool.srv[0]->c.active, 1);
    atomic_store(&f->pool.srv[1]->c.active, 3);
    assert_int_equal(pick(f, 0), 1);
    free_pool(f);
}

static void test_source_stable(void **state)
{
    enum { CLIENTS = 2000 };
    struct fixture *f = make_pool(CONFIG_BALANCE_SOURCE, 4, NULL, NULL);
    int before[CLIENTS], count[4] = {0};
    (void)state;
    for (int c = 0; c < CLIENTS; c++) {
        before[c] = pick(f, net_hash(&c, sizeof(c), 7));
        count[before[c]]++;
        assert_int_equal(pick(f, net_hash(&c, sizeof(c), 7)), before[c]);
    }
    for (int i = 0; i < 4; i++)
        assert_in_range(count[i], CLIENTS / 4 - CLIENTS / 10, CLIENTS / 4 + CLIENTS / 10);
    set_admin(f, 2, LB_ADMIN_MAINT);
    for (int c = 0; c < CLIENTS; c++) {
        int now = pick(f, net_hash(&c, sizeof(c), 7));
        assert_int_not_equal(now, 2);
        if (before[c] != 2)
            assert_int_equal(now, before[c]); /* only the removed server's clients move */
    }
    free_pool(f);
}

/* Balancers of one group (active-active behind ECMP) list their servers in any order; a client
 * must get the same server from each, and a server joining takes only its share of clients
 * from the others: about 1/N move, all of them to the new server. */
static void test_source_same_everywhere(void **state)
{
    enum { CLIENTS = 5000 };
    static const char *const here[] = {"10.0.0.11:6443", "10.0.0.12:6443", "10.0.0.13:6443",
                                       "10.0.0.14:6443"};
    static const char *const there[] = {"10.0.0.14:6443", "10.0.0.12:6443", "10.0.0.11:6443",
                                        "10.0.0.13:6443", "10.0.0.15:6443"};
    struct fixture *a = make_pool_at(CONFIG_BALANCE_SOURCE, 4, NULL, NULL, here);
    struct fixture *b = make_pool_at(CONFIG_BALANCE_SOURCE, 4, NULL, NULL, there);
    struct fixture *c = make_pool_at(CONFIG_BALANCE_SOURCE, 5, NULL, NULL, there);
    int moved = 0;
    (void)state;
    for (int i = 0; i < CLIENTS; i++) {
        uint64_t h = net_hash(&i, sizeof(i), 11);
        const char *on_a = a->pool.srv[pick(a, h)]->address;
        const char *on_c = c->pool.srv[pick(c, h)]->address;
        assert_string_equal(on_a, b->pool.srv[pick(b, h)]->address);
        if (strcmp(on_a, on_c) != 0) {
            assert_string_equal(on_c, "10.0.0.15:6443"); /* a move goes to the new one only */
            moved++;
        }
    }
    assert_in_range(moved, CLIENTS / 5 - CLIENTS / 25, CLIENTS / 5 + CLIENTS / 25);
    free_pool(a);
    free_pool(b);
    free_pool(c);
}

static void test_first_and_backup(void **state)
{
    const bool backup[] = {true, false, false, true};
    struct fixture *f = make_pool(CONFIG_BALANCE_FIRST, 4, NULL, backup);
    struct balance_tried tried = {0};
    (void)state;
    assert_int_equal(pick(f, 0), 1);
    set_admin(f, 1, LB_ADMIN_MAINT);
    assert_int_equal(pick(f, 0), 2);
    set_admin(f, 2, LB_ADMIN_MAINT);
    assert_int_equal(pick(f, 0), 0); /* no normal server left: backups, in order */
    set_admin(f, 1, LB_ADMIN_READY);
    assert_int_equal(pick(f, 0), 1);
    /* a server this connection already tried is skipped, then backups are next */
    balance_tried_add(&tried, 1);
    assert_int_equal(balance_pick(&f->pool, &f->st, 0, &tried), 0);
    balance_tried_add(&tried, 0);
    assert_int_equal(balance_pick(&f->pool, &f->st, 0, &tried), 3);
    balance_tried_add(&tried, 3);
    /* servers 1 and 2 are in maintenance: never used, not even as a last resort */
    assert_int_equal(balance_pick(&f->pool, &f->st, 0, &tried), -1);
    balance_tried_reset(&tried);
    free_pool(f);
}

static void test_backup_with_roundrobin(void **state)
{
    const bool backup[] = {false, false, true};
    struct fixture *f = make_pool(CONFIG_BALANCE_ROUNDROBIN, 3, NULL, backup);
    (void)state;
    for (int i = 0; i < 10; i++)
        assert_int_not_equal(pick(f, 0), 2);
    set_admin(f, 0, LB_ADMIN_MAINT);
    set_admin(f, 1, LB_ADMIN_DRAIN);
    assert_int_equal(pick(f, 0), 2);
    free_pool(f);
}

static void test_random_two_choices(void **state)
{
    struct fixture *f = make_pool(CONFIG_BALANCE_RANDOM, 3, NULL, NULL);
    int count[3] = {0};
    (void)state;
    for (int i = 0; i < 3000; i++)
        count[pick(f, 0)]++;
    for (int i = 0; i < 3; i++)
        assert_in_range(count[i], 800, 1200);
    /* a loaded server loses every draw it is in, unless drawn twice (1/9) */
    atomic_store(&f->pool.srv[0]->c.active, 100);
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 3000; i++)
        count[pick(f, 0)]++;
    assert_in_range(count[0], 150, 520);
    free_pool(f);
}

static void test_tried_large_pool(void **state)
{
    struct fixture *f = make_pool(CONFIG_BALANCE_ROUNDROBIN, 200, NULL, NULL);
    struct balance_tried tried = {0};
    int seen[200] = {0};
    (void)state;
    for (int i = 0; i < 200; i++) {
        int p = balance_pick(&f->pool, &f->st, 0, &tried);
        assert_in_range(p, 0, 199);
        assert_int_equal(seen[p], 0);
        seen[p] = 1;
        balance_tried_add(&tried, (size_t)p);
    }
    assert_int_equal(balance_pick(&f->pool, &f->st, 0, &tried), -1);
    balance_tried_reset(&tried);
    free_pool(f);
}

static void on_change(void *arg, struct health_target *t, enum health_event ev)
{
    (void)arg;
    (void)t;
    (void)ev;
}

/* With every server down, the client still gets a try at one, never at a drained one; with
 * when_all_down: refuse, it gets none. */
static void test_last_resort_when_all_down(void **state)
{
    struct event_base *base = event_base_new();
    struct health *engine = health_new(base, on_change, NULL);
    struct config_health hc = {.kind = CONFIG_CHECK_TCP,
                               .interval_ms = 60000,
                               .timeout_ms = 1000,
                               .down_interval_ms = 60000,
                               .rise = 1,
                               .fall = 1,
                               .expect_status = (unsigned[]){200},
                               .n_expect_status = 1,
                               .tls = {.verify = true}};
    struct lb_server_ctx ctx = {.backend = "b", .hc = &hc};
    struct config_backend backend = {.name = "b"};
    struct lb_pool pool = {.cfg = &backend, .balance = CONFIG_BALANCE_ROUNDROBIN, .n = 3};
    struct lb_server *srv[3];
    struct balance_state st;
    struct balance_tried tried = {0};
    char why[64];
    int seen[3] = {0};
    (void)state;
    pool.srv = srv;
    for (int i = 0; i < 3; i++) {
        struct config_server cs = {.weight = 1};
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", 2000 + i);
        assert_true(config_parse_addr(addr, CONFIG_ADDR_TARGET, &cs.address, why, sizeof(why)));
        srv[i] = lb_server_new(&ctx, &cs, engine);
        config_addr_free(&cs.address);
        atomic_store(&srv[i]->health->up, false);
    }
    atomic_store(&srv[2]->admin, LB_ADMIN_DRAIN);
    balance_state_init(&st, 3, 1);
    for (int k = 0; k < 10; k++)
        seen[balance_pick(&pool, &st, 0, NULL)]++;
    assert_int_equal(seen[2], 0);
    assert_int_equal(seen[0], 5);
    assert_int_equal(seen[1], 5);
    backend.when_all_down = CONFIG_ALL_DOWN_REFUSE;
    assert_int_equal(balance_pick(&pool, &st, 0, NULL), -1);
    /* an up server always wins over the last resort */
    atomic_store(&srv[1]->health->up, true);
    for (int k = 0; k < 5; k++)
        assert_int_equal(balance_pick(&pool, &st, 0, NULL), 1);
    balance_tried_add(&tried, 0);
    balance_tried_add(&tried, 1);
    assert_int_equal(balance_pick(&pool, &st, 0, &tried), -1);
    balance_tried_reset(&tried);
    balance_state_free(&st);
    for (int i = 0; i < 3; i++)
        lb_server_unref(srv[i]);
    health_free(engine);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smooth_roundrobin_sequence),
        cmocka_unit_test(test_roundrobin_equal_and_skips),
        cmocka_unit_test(test_leastconn),
        cmocka_unit_test(test_leastconn_weighted),
        cmocka_unit_test(test_source_stable),
        cmocka_unit_test(test_source_same_everywhere),
        cmocka_unit_test(test_first_and_backup),
        cmocka_unit_test(test_backup_with_roundrobin),
        cmocka_unit_test(test_random_two_choices),
        cmocka_unit_test(test_tried_large_pool),
        cmocka_unit_test(test_last_resort_when_all_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
