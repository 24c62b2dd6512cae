/* postgres check: a startup message (protocol 3.0) must be answered with an authentication
 * request ('R') or an error ('E'): either way the server speaks PostgreSQL. A listener that
 * accepts and stays silent times out. No credentials are sent. */
#include "health/check.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

static void pg_ready(struct health_probe *p)
{
    static const char params[] = "user\0k3lb\0database\0k3lb\0application_name\0k3lb-health\0";
    unsigned char msg[8 + sizeof(params)];
    uint32_t len = htonl((uint32_t)sizeof(msg)), version = htonl(196608); /* 3.0 */
    memcpy(msg, &len, 4);
    memcpy(msg + 4, &version, 4);
    memcpy(msg + 8, params, sizeof(params)); /* includes the final terminating NUL */
    bufferevent_write(p->bev, msg, sizeof(msg));
}

/* The 'M' (message) field of an ErrorResponse, for the detail. */
static void error_message(const unsigned char *b, size_t len, char *out, size_t outlen)
{
    size_t i = 5;
    snprintf(out, outlen, "an error");
    while (i < len && b[i]) {
        char field = (char)b[i++];
        const unsigned char *v = b + i;
        size_t vlen = strnlen((const char *)v, len - i);
        if (field == 'M') {
            snprintf(out, outlen, "'%.*s'", (int)vlen, (const char *)v);
            return;
        }
        i += vlen + 1;
    }
}

static void pg_data(struct health_probe *p, struct evbuffer *in)
{
    unsigned char b[512];
    size_t len = evbuffer_copyout(in, b, sizeof(b));
    char msg[300];
    if (len < 1)
        return;
    if (b[0] == 'R') {
        health_probe_done(p, HEALTH_RESULT_OK, "PostgreSQL asked for authentication");
    } else if (b[0] == 'E') {
        if (len < 5 && evbuffer_get_length(in) < 5)
            return;
        error_message(b, len, msg, sizeof(msg));
        health_probe_done(p, HEALTH_RESULT_OK, "PostgreSQL answered with %s", msg);
    } else {
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR,
                          "not a PostgreSQL answer (first byte 0x%02x)", b[0]);
    }
}

static void pg_eof(struct health_probe *p, struct evbuffer *in)
{
    if (evbuffer_get_length(in)) {
        pg_data(p, in);
        return;
    }
    health_probe_done(p, HEALTH_RESULT_RESET, "closed without answering the startup message");
}

static void pg_start(struct health_probe *p)
{
    static const struct health_stream_cbs cbs = {.ready = pg_ready, .data = pg_data, .eof = pg_eof};
    health_stream_open(p, NULL, &cbs, false);
}

const struct health_check_ops check_postgres_ops = {
    .name = "postgres",
    .start = pg_start,
};
