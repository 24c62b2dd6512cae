/* The forwarding paths (lb_forward) on real loopback TCP sockets, copy and splice: bytes arrive
 * intact and in order, a FIN is passed on once everything before it was delivered, a reader
 * that stops reading stops the writer with at most one buffer held, and an idle flow holds
 * neither buffer nor pipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lb/forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connected loopback pair: fds[0] one end, fds[1] the other, both non-blocking. */
static void tcp_pair(int fds[2])
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)), 0);
    fds[1] = accept(l, NULL, NULL);
    assert_true(fds[1] >= 0);
    close(l);
    for (int i = 0; i < 2; i++)
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
}

/* client <-> (src | k3lb | dst) <-> server, one direction: client writes, server reads. */
struct rig {
    int client, src, dst, server;
    struct lb_fwd fx;
    struct lb_flow flow;
    struct lb_side s, d;
    uint64_t moved;
};

static void rig_open(struct rig *r, bool splice)
{
    int a[2], b[2];
    tcp_pair(a);
    tcp_pair(b);
    memset(r, 0, sizeof(*r));
    r->client = a[0];
    r->src = a[1];
    r->dst = b[0];
    r->server = b[1];
    lb_fwd_init(&r->fx, 16384, 4);
    r->fx.splice = splice;
    r->s.fd = r->src;
    r->d.fd = r->dst;
}

static void rig_close(struct rig *r)
{
    lb_flow_release(&r->fx, &r->flow);
    lb_fwd_drain(&r->fx);
    close(r->client);
    close(r->src);
    close(r->dst);
    close(r->server);
}

/* What epoll would say after a wait: both sockets ready again. */
static enum lb_flow_status step(struct rig *r)
{
    r->s.readable = r->d.writable = true;
    return lb_forward(&r->fx, &r->flow, &r->s, &r->d, &r->moved);
}

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 131 + (i >> 13));
}

/* One recv() at the far end: the bytes must continue the pattern from *got. Returns what recv()
 * returned (-1 only for EAGAIN). */
static ssize_t take(int fd, size_t *got)
{
    uint8_t buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0)
        assert_true(errno == EAGAIN);
    for (ssize_t i = 0; i < n; i++)
        assert_int_equal(buf[i], pattern(*got + (size_t)i));
    if (n > 0)
        *got += (size_t)n;
    return n;
}

/* Sends total bytes through the rig while reading at the far end; true when all arrived in
 * order and the FIN followed them. */
static void pass_through(bool splice, size_t total)
{
    struct rig r;
    uint8_t buf[65536];
    size_t sent = 0, got = 0;
    bool fin = false, eof = false;
    enum lb_flow_status st = LB_FLOW_OPEN;
    rig_open(&r, splice);
    for (int rounds = 0; rounds < 200000 && !eof; rounds++) {
        if (sent < total) {
            size_t n = total - sent < sizeof(buf) ? total - sent : sizeof(buf);
            for (size_t i = 0; i < n; i++)
                buf[i] = pattern(sent + i);
            ssize_t w = send(r.client, buf, n, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
        } else if (!fin) {
            shutdown(r.client, SHUT_WR);
            fin = true;
        }
        if (st == LB_FLOW_OPEN)
            st = step(&r);
        assert_int_not_equal(st, LB_FLOW_ERROR);
        eof = take(r.server, &got) == 0;
    }
    assert_true(eof);
    assert_int_equal(got, total);
    assert_int_equal(st, LB_FLOW_DONE);
    assert_int_equal(r.moved, total);
    assert_int_equal(r.flow.bytes, total);
    assert_true(r.d.shut);
    /* nothing in flight: no buffer, no pipe held */
    assert_null(r.flow.buf);
    assert_null(r.flow.pipe);
    assert_int_equal(r.fx.in_use, 0);
    if (splice && total >= (1 << 20))
        assert_true(r.fx.n_free_pipes > 0); /* the bulk went through a pipe */
    rig_close(&r);
}

static void test_copy_small(void **state)
{
    (void)state;
    pass_through(false, 0);
    pass_through(false, 1);
    pass_through(false, 100000);
}

static void test_copy_bulk(void **state)
{
    (void)state;
    pass_through(false, 8 << 20);
}

static void test_splice_bulk(void **state)
{
    (void)state;
    pass_through(true, 8 << 20);
}

static void test_splice_small(void **state)
{
    (void)state;
    pass_through(true, 0);
    pass_through(true, 3);
}

/* The server never reads: forwarding stops when its socket is full, holding at most one
 * buffer (copy) or one pipe (splice), and the client's sends then block in the kernel. */
static void backpressure(bool splice)
{
    struct rig r;
    static uint8_t buf[65536];
    uint64_t before;
    rig_open(&r, splice);
    memset(buf, 'x', sizeof(buf));
    for (int i = 0; i < 2000; i++) {
        send(r.client, buf, sizeof(buf), MSG_NOSIGNAL);
        assert_int_equal(step(&r), LB_FLOW_OPEN);
    }
    assert_false(r.d.writable); /* the destination said "full" */
    assert_true(r.fx.in_use + r.fx.pipes_in_use <= 1);
    before = r.moved;
    for (int i = 0; i < 10; i++)
        step(&r);
    assert_int_equal(r.moved, before); /* nothing more moves until the server reads */
    assert_true(send(r.client, buf, sizeof(buf), MSG_NOSIGNAL) < 0 && errno == EAGAIN);
    rig_close(&r);
}

static void test_backpressure_copy(void **state)
{
    (void)state;
    backpressure(false);
}

static void test_backpressure_splice(void **state)
{
    (void)state;
    backpressure(true);
}

/* The client's last bytes and its FIN are both in when the flow runs, and the FIN was announced
 * (rdhup), as epoll does with EPOLLRDHUP: one call delivers everything, longer than a buffer
 * too (a read that fills the buffer goes on), and passes the FIN on, without waiting for a
 * read that returns 0. */
static void fin_with_last_bytes(size_t total)
{
    struct rig r;
    uint8_t buf[65536];
    size_t got = 0;
    rig_open(&r, false);
    for (size_t i = 0; i < total; i++)
        buf[i] = pattern(i);
    assert_int_equal(send(r.client, buf, total, 0), (ssize_t)total);
    shutdown(r.client, SHUT_WR);
    r.s.rdhup = true;
    assert_int_equal(step(&r), LB_FLOW_DONE);
    assert_true(r.s.eof);
    assert_true(r.d.shut);
    assert_int_equal(r.flow.bytes, total);
    for (ssize_t n; (n = take(r.server, &got)) != 0;)
        assert_true(n > 0); /* all in already: nothing to wait for */
    assert_int_equal(got, total);
    rig_close(&r);
}

static void test_fin_with_last_bytes(void **state)
{
    (void)state;
    fin_with_last_bytes(100);
    fin_with_last_bytes(40000); /* two full 16 KiB reads, then a short one */
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    *(short *)arg = what;
}

/* What the rule above rests on: a peer that sends bytes and then resets is announced by
 * libevent's epoll backend as readable and writable (EPOLLERR), never as closed (EV_CLOSED,
 * which sets rdhup), so its bytes are forwarded and no FIN is passed on for the reset. */
static void test_reset_is_not_announced_as_fin(void **state)
{
    struct rig r;
    struct linger lg = {1, 0};
    struct event_base *base = event_base_new();
    short what = 0;
    (void)state;
    rig_open(&r, false);
    struct event *ev =
        event_new(base, r.src, EV_READ | EV_WRITE | EV_CLOSED | EV_ET, on_event, &what);
    assert_int_equal(send(r.client, "bytes", 5, 0), 5);
    setsockopt(r.client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(r.client);
    r.client = socket(AF_INET, SOCK_STREAM, 0); /* something for rig_close to close */
    event_add(ev, NULL);
    assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
    assert_true(what & EV_READ);
    assert_false(what & EV_CLOSED);
    r.s.rdhup = (what & EV_CLOSED) != 0;
    assert_int_not_equal(step(&r), LB_FLOW_DONE);
    assert_false(r.s.eof);
    assert_false(r.d.shut);
    assert_int_equal(r.flow.bytes, 5);
    event_free(ev);
    event_base_free(base);
    rig_close(&r);
}

/* The server resets: the flow reports an error with the socket's errno. */
static void test_reset_is_an_error(void **state)
{
    struct rig r;
    struct linger lg = {1, 0};
    uint8_t buf[4096] = {0};
    enum lb_flow_status st = LB_FLOW_OPEN;
    (void)state;
    rig_open(&r, false);
    setsockopt(r.server, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(r.server);
    r.server = socket(AF_INET, SOCK_STREAM, 0); /* something for rig_close to close */
    for (int i = 0; i < 100 && st == LB_FLOW_OPEN; i++) {
        send(r.client, buf, sizeof(buf), MSG_NOSIGNAL);
        st = step(&r);
    }
    assert_int_equal(st, LB_FLOW_ERROR);
    assert_true(r.d.err == ECONNRESET || r.d.err == EPIPE);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_small),
        cmocka_unit_test(test_copy_bulk),
        cmocka_unit_test(test_splice_small),
        cmocka_unit_test(test_splice_bulk),
        cmocka_unit_test(test_backpressure_copy),
        cmocka_unit_test(test_backpressure_splice),
        cmocka_unit_test(test_reset_is_an_error),
        cmocka_unit_test(test_fin_with_last_bytes),
        cmocka_unit_test(test_reset_is_not_announced_as_fin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
