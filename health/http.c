/* A minimal HTTP/1.1 client for health probes: one GET with "Connection: close", the answer
 * read to its Content-Length or to EOF, chunked bodies decoded, everything bounded. */
#include "health/http.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_state {
    const char *path;      /* what to GET, also named in messages */
    const char *auth;      /* Authorization header value, or NULL */
    health_http_done done; /* gets the parsed answer */
    bool closing;          /* the connection serves this request only */
};

/* The end of the line starting at in (just past its LF), or 0 when there is none yet. */
static size_t line_end(const char *body, size_t len, size_t in)
{
    const char *eol = memchr(body + in, '\n', len - in);
    return eol ? (size_t)(eol - body) + 1 : 0;
}

/* Decodes a chunked body in place. Returns its length when the last chunk and the trailer's
 * blank line are there, -2 when more is needed, -1 when it is not chunked encoding. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0, next;
    for (;;) {
        char *end;
        unsigned long n;
        if (!(next = line_end(body, len, in)))
            return -2;
        if (!isxdigit((unsigned char)body[in]))
            return -1;
        n = strtoul(body + in, &end, 16);
        if ((*end != '\r' && *end != '\n' && *end != ';') || n > HEALTH_HTTP_MAX)
            return -1;
        in = next;
        if (n == 0)
            break;
        if (n + 2 > len - in)
            return -2; /* the data and its CRLF are not all here yet */
        memmove(body + out, body + in, n);
        out += n;
        in += n;
        if (body[in] == '\r')
            in++;
        if (body[in] != '\n')
            return -1;
        in++;
    }
    for (;;) { /* trailer fields, then a blank line */
        if (!(next = line_end(body, len, in)))
            return -2;
        if (next - in <= 2 && (next - in == 1 || body[in] == '\r'))
            return (long)out;
        in = next;
    }
}

static const char *header(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = strchr(head, '\n'); l; l = strchr(l, '\n')) {
        l++;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            l += n + 1;
            while (*l == ' ' || *l == '\t')
                l++;
            return l;
        }
    }
    return NULL;
}

/* A Content-Length value: digits only, within the answer limit; -1 otherwise. */
static long content_length(const char *v)
{
    long n = 0;
    if (!isdigit((unsigned char)*v))
        return -1;
    for (; isdigit((unsigned char)*v); v++)
        if ((n = n * 10 + (*v - '0')) > HEALTH_HTTP_MAX)
            return -1;
    return *v == '\r' || *v == '\n' || *v == ' ' || *v == '\t' || !*v ? n : -1;
}

int health_http_parse(char *buf, size_t len, bool at_eof, struct health_http_response *r)
{
    char *head_end = memmem(buf, len, "\r\n\r\n", 4);
    const char *cl, *te;
    size_t body_len;
    int major, minor, end = 0;

    /* A NUL has no place in a status line or header: it is not HTTP (and would hide the end
     * of the head from the string functions below). */
    if (memchr(buf, '\0', head_end ? (size_t)(head_end - buf) : len))
        return -1;
    if (!head_end)
        return at_eof ? -1 : 0;
    *head_end = '\0';
    if (sscanf(buf, "HTTP/%1d.%1d %3d%n", &major, &minor, &r->status, &end) != 3 ||
        r->status < 100 || r->status > 599 || (buf[end] != ' ' && buf[end] != '\r'))
        return -1;
    r->body = head_end + 4;
    body_len = len - (size_t)(head_end + 4 - buf);
    cl = header(buf, "Content-Length");
    te = header(buf, "Transfer-Encoding");
    if (te && strncasecmp(te, "chunked", 7) == 0) {
        long n = dechunk((char *)r->body, body_len);
        if (n == -2)
            goto incomplete;
        if (n < 0)
            return -1;
        body_len = (size_t)n;
    } else if (cl) {
        long want = content_length(cl);
        if (want < 0)
            return -1;
        if (body_len < (size_t)want)
            goto incomplete;
        body_len = (size_t)want;
    } else if (!at_eof) {
        goto incomplete;
    }
    ((char *)r->body)[body_len] = '\0';
    r->body_len = body_len;
    return 1;
incomplete:
    *head_end = '\r'; /* undo, to parse again with more data */
    return at_eof ? -1 : 0;
}

static void try_finish(struct health_probe *p, struct evbuffer *in, bool at_eof)
{
    struct http_state *st = p->ctx;
    struct health_http_response r = {0};
    size_t len = evbuffer_get_length(in);
    char *buf;
    int rc;

    if (len > HEALTH_HTTP_MAX) {
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR, "answer to %s is larger than 64 KiB",
                          st->path);
        return;
    }
    if (len == 0 && at_eof) {
        health_probe_done(p, HEALTH_RESULT_RESET, "closed without answering %s", st->path);
        return;
    }
    buf = xmalloc(len + 1);
    evbuffer_copyout(in, buf, len);
    buf[len] = '\0';
    rc = health_http_parse(buf, len, at_eof, &r);
    if (rc < 0) {
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR, "not an HTTP answer to %s", st->path);
    } else if (rc > 0) {
        /* An answer framed by its length, from an HTTP/1.1 server that did not say close:
         * the connection serves the next probe too (one TLS handshake instead of one per
         * probe). buf holds the head only now. */
        const char *conn = header(buf, "Connection");
        if (!at_eof && !st->closing && strncmp(buf, "HTTP/1.1", 8) == 0 &&
            !(conn && !strncasecmp(conn, "close", 5))) {
            evbuffer_drain(in, len);
            health_stream_keep(p);
        }
        st->done(p, &r);
    }
    free(buf);
}

static void http_data(struct health_probe *p, struct evbuffer *in)
{
    try_finish(p, in, false);
}
static void http_eof(struct health_probe *p, struct evbuffer *in)
{
    try_finish(p, in, true);
}

static void http_ready(struct health_probe *p)
{
    struct http_state *st = p->ctx;
    struct evbuffer *out = bufferevent_get_output(p->bev);
    evbuffer_add_printf(out,
                        "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: k3lb-health\r\n"
                        "Accept: */*\r\n",
                        st->path, p->t->p.server_name ? p->t->p.server_name : "localhost");
    if (st->auth)
        evbuffer_add_printf(out, "Authorization: %s\r\n", st->auth);
    if (st->closing)
        evbuffer_add_printf(out, "Connection: close\r\n");
    evbuffer_add(out, "\r\n", 2);
}

static void get(struct health_probe *p, SSL_CTX *ctx, const char *path, const char *auth,
                health_http_done done, bool closing)
{
    static const struct health_stream_cbs cbs = {
        .ready = http_ready, .data = http_data, .eof = http_eof};
    struct http_state *st = p->ctx;
    if (!st) {
        st = xcalloc(1, sizeof(*st));
        p->ctx = st;
    }
    st->path = path;
    st->auth = auth;
    st->done = done;
    st->closing = closing;
    health_stream_open(p, ctx, &cbs, !closing);
}

void health_http_get(struct health_probe *p, SSL_CTX *ctx, const char *path, const char *auth,
                     health_http_done done)
{
    get(p, ctx, path, auth, done, false);
}

void health_http_get_once(struct health_probe *p, SSL_CTX *ctx, const char *path,
                          health_http_done done)
{
    get(p, ctx, path, NULL, done, true);
}

static bool status_expected(const struct health_params *hp, int status)
{
    for (size_t i = 0; i < hp->n_expect_status; i++)
        if ((int)hp->expect_status[i] == status)
            return true;
    return false;
}

bool health_http_verdict(struct health_probe *p, const struct health_http_response *r)
{
    const struct health_params *hp = &p->t->p;
    const char *path = ((struct http_state *)p->ctx)->path;
    if (!status_expected(hp, r->status)) {
        health_probe_done(p, HEALTH_RESULT_BAD_STATUS, "HTTP %d from %s%s", r->status, path,
                          r->status == 401 || r->status == 403
                              ? ": the check needs credentials (health.auth)"
                              : "");
        return false;
    }
    if (hp->expect_body && !strstr(r->body, hp->expect_body)) {
        health_probe_done(p, HEALTH_RESULT_BAD_BODY, "HTTP %d from %s without '%s' in the body",
                          r->status, path, hp->expect_body);
        return false;
    }
    return true;
}

void health_http_judge(struct health_probe *p, const struct health_http_response *r)
{
    char passed[160];
    if (!health_http_verdict(p, r))
        return;
    snprintf(passed, sizeof(passed), "HTTP %d from %s", r->status,
             ((struct http_state *)p->ctx)->path);
    health_apiserver_after(p, passed);
}
