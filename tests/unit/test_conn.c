/* The connection state machine (lb/conn.c, lb/conn_intro.c, lb/queue.c) on one event base:
 * a client (one end of a socket pair) through a connection to loopback servers. It connects and
 * forwards both ways, passes a half-close on and ends closed; a refused server is retried on
 * the next and a pool with none left ends no_server; with maxconn 1 a second client waits in
 * the queue and gets the slot when the first ends, a third over max_queue ends queue_full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/value.h"
#include "lb/balance.h"
#include "lb/conn.h"
#include "lb/forward.h"
#include "lb/queue.h"
#include "lb/server.h"
#include "lb/view.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 4

struct lab {
    struct event_base *base;
    struct lb_fwd bufs;
    struct lb_conn_home home;
    struct config cfg;
    struct config_frontend fe;
    struct config_backend be;
    struct lb_front front;
    struct lb_view_front vf;
    struct lb_view view;
    struct lb_pool pool;
    struct balance_state bal;
    struct lb_conn conns[MAX_CONNS];
    enum lb_conn_end ended[MAX_CONNS];
    int n_ended;
    bool kicked;
    int listener; /* the live server's listening socket */
};

static struct lab *lab_of(struct lb_conn_home *home)
{
    return (struct lab *)((char *)home - offsetof(struct lab, home));
}

static void done(struct lb_conn_home *home, struct lb_conn *c)
{
    struct lab *l = lab_of(home);
    l->ended[c - l->conns] = c->end;
    l->n_ended++;
}

static void kick(struct lb_conn_home *home)
{
    lab_of(home)->kicked = true;
}

/* A loopback listener on a free port: its port. */
static int listen_any(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(*fd, 8), 0);
    fcntl(*fd, F_SETFL, O_NONBLOCK); /* the test polls it between loop turns */
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* servers: "live" (the lab's listener) or "dead" (a port nothing listens on), in order. */
static struct lab *lab_new(const char *const *servers, size_t n, unsigned maxconn,
                           unsigned max_queue)
{
    struct lab *l = calloc(1, sizeof(*l));
    int dead_fd, dead = listen_any(&dead_fd), live = listen_any(&l->listener);
    char addr[40], why[120];
    close(dead_fd); /* refused from now on */
    l->base = event_base_new();
    lb_fwd_init(&l->bufs, 16384, 4);
    l->home = (struct lb_conn_home){.base = l->base, .bufs = &l->bufs, .done = done, .kick = kick};
    l->be = (struct config_backend){.name = "b",
                                    .connect_timeout_ms = 2000,
                                    .max_queue = max_queue,
                                    .queue_timeout_ms = 5000,
                                    .when_all_down = CONFIG_ALL_DOWN_REFUSE};
    l->fe = (struct config_frontend){.name = "f", .backend = "b", .backend_index = 0};
    l->cfg =
        (struct config){.frontends = &l->fe, .n_frontends = 1, .backends = &l->be, .n_backends = 1};
    l->pool = (struct lb_pool){.cfg = &l->be,
                               .balance = CONFIG_BALANCE_FIRST,
                               .n = n,
                               .srv = calloc(n, sizeof(struct lb_server *)),
                               .queue = lb_queue_new()};
    for (size_t i = 0; i < n; i++) {
        struct config_server cs = {.weight = 1, .maxconn = maxconn};
        struct lb_server_ctx ctx = {.backend = "b"};
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", strcmp(servers[i], "live") ? dead : live);
        assert_true(config_parse_addr(addr, CONFIG_ADDR_TARGET, &cs.address, why, sizeof(why)));
        l->pool.srv[i] = lb_server_new(&ctx, &cs, NULL);
        config_addr_free(&cs.address);
    }
    balance_state_init(&l->bal, n, 7);
    l->vf = (struct lb_view_front){.cfg = &l->fe, .front = &l->front, .pool = 0};
    l->view = (struct lb_view){
        .cfg = &l->cfg, .fronts = &l->vf, .n_fronts = 1, .pools = &l->pool, .n_pools = 1};
    return l;
}

static void lab_free(struct lab *l)
{
    for (size_t i = 0; i < l->pool.n; i++)
        lb_server_unref(l->pool.srv[i]);
    free(l->pool.srv);
    lb_queue_free(l->pool.queue);
    balance_state_free(&l->bal);
    lb_fwd_drain(&l->bufs);
    close(l->listener);
    event_base_free(l->base);
    free(l);
}

/* Starts connection i for a new client: the test's end of the pair. */
static int client(struct lab *l, int i)
{
    int sv[2];
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    memset(&l->conns[i], 0, sizeof(l->conns[i]));
    l->conns[i].cs.fd = l->conns[i].ss.fd = -1;
    l->conns[i].home = &l->home;
    l->ended[i] = LB_END_NONE;
    lb_conn_start(&l->conns[i], &l->view, &l->vf, &l->bal, sv[1], (struct sockaddr *)&peer,
                  sizeof(peer));
    return sv[0];
}

/* Runs the loop until cond holds (bounded: 2000 turns of at most 1 ms); cond is asked once per
 * turn, so it may consume what it waits for. */
#define RUN_UNTIL(l, cond)                                                                         \
    do {                                                                                           \
        bool ok_ = false;                                                                          \
        for (int turn_ = 0; turn_ < 2000 && !(ok_ = (cond)); turn_++) {                            \
            struct timeval tv_ = {0, 1000};                                                        \
            event_base_loopexit((l)->base, &tv_);                                                  \
            event_base_dispatch((l)->base);                                                        \
            if ((l)->kicked) {                                                                     \
                (l)->kicked = false;                                                               \
                atomic_store(&(l)->home.kick_pending, false);                                      \
                lb_conn_home_kick(&(l)->home);                                                     \
            }                                                                                      \
        }                                                                                          \
        assert_true(ok_);                                                                          \
    } while (0)

static int accept_server(struct lab *l)
{
    int fd = -1;
    RUN_UNTIL(l, (fd = accept4(l->listener, NULL, NULL, SOCK_NONBLOCK)) >= 0);
    return fd;
}

static void test_forward_and_half_close(void **state)
{
    static const char *const servers[] = {"dead", "live"};
    struct lab *l = lab_new(servers, 2, 0, 0);
    char buf[16] = "";
    (void)state;
    int cfd = client(l, 0), sfd;
    assert_int_equal(send(cfd, "ping", 4, 0), 4);
    sfd = accept_server(l); /* the dead server was tried first, then this one */
    RUN_UNTIL(l, recv(sfd, buf, sizeof(buf), MSG_DONTWAIT) == 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(l->conns[0].retries, 1);
    assert_int_equal(l->conns[0].state, LB_CONN_FORWARDING);
    assert_int_equal(send(sfd, "pong", 4, 0), 4);
    shutdown(sfd, SHUT_WR); /* the server is done: passed on, the client may still send */
    RUN_UNTIL(l, recv(cfd, buf, sizeof(buf), MSG_DONTWAIT) == 4);
    RUN_UNTIL(l, recv(cfd, buf, sizeof(buf), MSG_DONTWAIT) == 0);
    assert_int_equal(l->conns[0].state, LB_CONN_HALF_CLOSED);
    assert_int_equal(send(cfd, "late", 4, 0), 4);
    RUN_UNTIL(l, recv(sfd, buf, sizeof(buf), MSG_DONTWAIT) == 4);
    shutdown(cfd, SHUT_WR);
    RUN_UNTIL(l, l->n_ended == 1);
    assert_int_equal(l->ended[0], LB_END_CLOSED);
    assert_int_equal(atomic_load(&l->pool.srv[1]->c.active), 0);
    close(cfd);
    close(sfd);
    lab_free(l);
}

static void test_no_server_left(void **state)
{
    static const char *const servers[] = {"dead", "dead"};
    struct lab *l = lab_new(servers, 2, 0, 0);
    (void)state;
    int cfd = client(l, 0);
    RUN_UNTIL(l, l->n_ended == 1);
    assert_int_equal(l->ended[0], LB_END_NO_SERVER);
    assert_int_equal(atomic_load(&l->front.no_server), 1);
    assert_int_equal(atomic_load(&l->pool.srv[0]->c.connect_failures), 1);
    assert_int_equal(atomic_load(&l->pool.srv[1]->c.connect_failures), 1);
    close(cfd);
    lab_free(l);
}

static void test_queue(void **state)
{
    static const char *const servers[] = {"live"};
    struct lab *l = lab_new(servers, 1, 1, 1);
    char buf[8];
    (void)state;
    int c0 = client(l, 0), s0 = accept_server(l);
    int c1 = client(l, 1); /* the slot is taken: it waits */
    assert_int_equal(l->conns[1].state, LB_CONN_QUEUED);
    int c2 = client(l, 2); /* max_queue 1: closed at once */
    RUN_UNTIL(l, l->n_ended == 1);
    assert_int_equal(l->ended[2], LB_END_QUEUE_FULL);
    assert_int_equal(send(c1, "wait", 4, 0), 4); /* bytes sent while waiting are kept */
    close(c0); /* the first ends (its server closes too): the slot goes to the one waiting */
    close(s0);
    RUN_UNTIL(l, l->n_ended == 2);
    assert_int_equal(l->ended[0], LB_END_CLOSED);
    int s1 = accept_server(l);
    RUN_UNTIL(l, recv(s1, buf, sizeof(buf), MSG_DONTWAIT) == 4);
    assert_memory_equal(buf, "wait", 4);
    assert_int_equal(atomic_load(&l->pool.queue->total), 1);
    assert_int_equal(atomic_load(&l->pool.queue->full), 1);
    assert_int_equal(atomic_load(&l->pool.queue->n), 0);
    close(c1);
    close(s1);
    RUN_UNTIL(l, l->n_ended == 3);
    assert_int_equal(l->ended[1], LB_END_CLOSED);
    close(c2);
    lab_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_and_half_close),
        cmocka_unit_test(test_no_server_left),
        cmocka_unit_test(test_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
