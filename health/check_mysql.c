/* mysql check (MySQL and MariaDB): the server must greet with a protocol-10 handshake packet.
 * After the greeting the probe answers as user "k3lb" without a password and then quits, so the
 * server counts a finished login attempt rather than an aborted connection (enough aborted
 * ones from a host make MySQL block it: max_connect_errors). */
#include "health/check.h"
#include "common/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_LONG_PASSWORD     0x00000001u
#define CLIENT_PROTOCOL_41       0x00000200u
#define CLIENT_SECURE_CONNECTION 0x00008000u

struct mysql_state {
    bool greeted;     /* the greeting arrived and was answered */
    char version[64]; /* server version from the greeting */
};

static void send_packet(struct health_probe *p, uint8_t seq, const void *payload, size_t len)
{
    uint8_t head[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), seq};
    bufferevent_write(p->bev, head, 4);
    bufferevent_write(p->bev, payload, len);
}

static void answer_greeting(struct health_probe *p)
{
    uint8_t resp[32 + 6] = {0};
    uint32_t caps = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION;
    uint32_t max_packet = 1 << 24;
    memcpy(resp, &caps, 4); /* little endian on every target k3lb builds for */
    memcpy(resp + 4, &max_packet, 4);
    resp[8] = 33;                   /* utf8 */
    memcpy(resp + 32, "k3lb\0", 5); /* user, then an empty auth response (length 0) */
    send_packet(p, 1, resp, sizeof(resp));
}

static void mysql_ok(struct health_probe *p)
{
    struct mysql_state *st = p->ctx;
    uint8_t quit = 0x01;
    send_packet(p, 0, &quit, 1);
    health_probe_done(p, HEALTH_RESULT_OK, "MySQL protocol 10 greeting (server %s)", st->version);
}

static void mysql_data(struct health_probe *p, struct evbuffer *in)
{
    struct mysql_state *st = p->ctx;
    uint8_t b[256];
    size_t len = evbuffer_copyout(in, b, sizeof(b)), plen;

    if (len < 5)
        return;
    plen = (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16;
    if (st->greeted) {
        mysql_ok(p); /* any answer to the login: the server is alive and speaking */
        return;
    }
    if (b[4] == 0xff) {
        int n = (int)(len > 7 ? len - 7 : 0);
        if (n > (int)plen - 3)
            n = (int)plen - 3;
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR, "MySQL refused the connection: %.*s",
                          n > 0 ? n : 0, (const char *)b + 7);
        return;
    }
    if (b[4] != 10) {
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR,
                          "not a MySQL protocol 10 greeting (first byte 0x%02x)", b[4]);
        return;
    }
    if (len < 4 + plen && len < sizeof(b))
        return; /* wait for the whole greeting */
    const char *v = (const char *)b + 5;
    size_t vlen = strnlen(v, len - 5);
    if (vlen > 6 && strncmp(v, "5.5.5-", 6) == 0) {
        v += 6; /* MariaDB's prefix for old replication clients, not its version */
        vlen -= 6;
    }
    snprintf(st->version, sizeof(st->version), "%.*s", (int)vlen, v);
    evbuffer_drain(in, 4 + plen);
    st->greeted = true;
    answer_greeting(p);
}

static void mysql_eof(struct health_probe *p, struct evbuffer *in)
{
    struct mysql_state *st = p->ctx;
    (void)in;
    if (st->greeted)
        health_probe_done(p, HEALTH_RESULT_OK, "MySQL protocol 10 greeting (server %s)",
                          st->version);
    else
        health_probe_done(p, HEALTH_RESULT_RESET, "closed without a greeting");
}

static void mysql_ready(struct health_probe *p)
{
    (void)p;
}

static void mysql_start(struct health_probe *p)
{
    static const struct health_stream_cbs cbs = {
        .ready = mysql_ready, .data = mysql_data, .eof = mysql_eof};
    p->ctx = xcalloc(1, sizeof(struct mysql_state));
    health_stream_open(p, NULL, &cbs, false);
}

const struct health_check_ops check_mysql_ops = {
    .name = "mysql",
    .start = mysql_start,
};
