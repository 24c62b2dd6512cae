/* Writing for k3lb import-haproxy: the sections import/hx_read.c read, as k3lb YAML. A
 * frontend is written only with a backend that is (one with servers); checks, timeouts and
 * limits are mapped as HAProxy applies them, and what has no k3lb equivalent is warned about
 * here, where it is known (a backend with no servers, per-frontend limits). */
#include "import/hx_write.h"

#include "import/hx.h"

#include "config/value.h"

#include <stdio.h>
#include <string.h>

/* A key with a duration, as k3lb writes durations ("10s", "1m30s"). */
static void duration(FILE *y, const char *key, uint64_t ms)
{
    char text[64];
    config_format_duration(ms, text, sizeof(text));
    fprintf(y, "%s: %s", key, text);
}

/* A YAML double-quoted string. */
static void quoted(FILE *y, const char *s)
{
    fputc('"', y);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(y, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) /* control bytes, and no invalid UTF-8 in YAML */
            fprintf(y, "\\x%02x", c);
        else
            fputc(c, y);
    }
    fputc('"', y);
}

static const struct hx_proxy *find_backend(const struct hx *h, const char *name)
{
    for (size_t i = 0; name && i < h->n_p; i++) /* one that is written: it has servers */
        if (h->p[i]->kind != HX_FRONTEND && h->p[i]->n_srv && strcmp(h->p[i]->name, name) == 0)
            return h->p[i];
    return NULL;
}

/* A route name already written for this frontend (HAProxy's first rule wins; k3lb refuses a
 * name twice), or one an earlier rule's wildcard takes first in HAProxy. */
static bool route_name_taken(const struct hx_proxy *p, size_t upto, size_t upto_name,
                             const char *name, bool *shadowed)
{
    for (size_t r = 0; r <= upto && r < p->n_routes; r++)
        for (size_t k = 0; k < (r == upto ? upto_name : p->routes[r]->n_names); k++) {
            const char *q = p->routes[r]->names[k];
            size_t nl = strlen(name), ql = strlen(q);
            if (strcmp(q, name) == 0)
                return true;
            if (q[0] == '*' && nl > ql - 1 && strcmp(name + nl - (ql - 1), q + 1) == 0 && r < upto)
                *shadowed = true;
        }
    return false;
}

static void write_routes(struct hx *h, FILE *y, const struct hx_proxy *p)
{
    bool any = false;
    for (size_t r = 0; r < p->n_routes; r++) {
        const struct hx_route *rt = p->routes[r];
        bool first = true, shadowed = false;
        h->line = rt->line;
        if (!find_backend(h, rt->backend)) {
            hx_warn_about(h, h->line, "use_backend", rt->backend,
                          "no such backend with servers: the route is left out");
            continue;
        }
        for (size_t k = 0; k < rt->n_names; k++) {
            if (route_name_taken(p, r, k, rt->names[k], &shadowed))
                continue;
            fputs(any ? "" : "    routes:\n", y);
            fputs(first ? "      - sni: [" : ", ", y);
            quoted(y, rt->names[k]);
            any = true;
            first = false;
        }
        if (!first) {
            fputs("]\n        backend: ", y);
            quoted(y, rt->backend);
            fputs("\n", y);
        }
        if (shadowed) {
            hx_warn_about(
                h, h->line, "use_backend", rt->backend,
                "an earlier rule's wildcard takes some of these names in HAProxy; in k3lb "
                "the exact name, then the longest suffix, wins");
        }
    }
    if (any && p->inspect_delay) {
        uint64_t t = p->inspect_delay < 10      ? 10
                     : p->inspect_delay > 60000 ? 60000
                                                : p->inspect_delay;
        duration(y, "    hello_timeout", t);
        fputs("\n", y);
    }
}

/* Per-source limits from the reject rules, the rate in k3lb's second. */
static void write_source_limits(struct hx *h, FILE *y, const struct hx_proxy *p)
{
    uint64_t period = p->rate_period;
    for (size_t i = 0; !period && p->rate_table && i < h->n_p; i++)
        if (strcmp(h->p[i]->name, p->rate_table) == 0)
            period = h->p[i]->rate_period;
    if (p->src_conns)
        fprintf(y, "    source_max_conns: %u\n", p->src_conns);
    if (!p->src_rate)
        return;
    if (!period)
        period = 1000;
    if (period != 1000) {
        hx_warn_about(h, p->line, "conn_rate", p->name,
                      "a rate over another period: written per second");
    }
    fprintf(y, "    source_max_rate: %llu\n",
            (unsigned long long)((p->src_rate * 1000ull + period - 1) / period));
}

static void write_frontends(struct hx *h, FILE *y)
{
    bool any = false;
    for (size_t i = 0; i < h->n_p; i++) {
        const struct hx_proxy *p = h->p[i];
        const char *backend = p->kind == HX_LISTEN ? p->name : p->default_backend;
        bool routed = p->n_routes > 0;
        if (p->kind == HX_BACKEND || (p->kind == HX_LISTEN && !p->n_binds))
            continue;
        h->line = p->line;
        if (!p->n_binds || (!find_backend(h, backend) && !routed)) {
            hx_warn_about(h, h->line, p->kind == HX_LISTEN ? "listen" : "frontend", p->name,
                          !p->n_binds ? "no address to listen on" : "no backend");
            continue;
        }
        if (!any)
            fputs("frontends:\n", y);
        any = true;
        fputs("  - name: ", y);
        quoted(y, p->name);
        fputs("\n    listen: [", y);
        for (size_t b = 0; b < p->n_binds; b++) {
            fputs(b ? ", " : "", y);
            quoted(y, p->binds[b]);
        }
        fputs("]\n", y);
        if (find_backend(h, backend)) {
            fputs("    backend: ", y);
            quoted(y, backend);
            fputs("\n", y);
        }
        write_routes(h, y, p);
        write_source_limits(h, y, p);
        if (p->accept_proxy)
            fputs("    accept_proxy: true\n", y);
        if (p->tcplog)
            fputs("    access_log: true\n", y);
    }
}

static const char *const check_kind[] = {"tcp", "http", "postgres", "mysql", "tls"};

/* agent-check: one agent port and interval for the backend (k3lb's is per backend). */
static void write_agent(struct hx *h, FILE *y, const struct hx_proxy *p, const struct hx_srv *s0)
{
    const struct hx_srv *a = NULL;
    for (size_t i = 0; i < p->n_srv && !a; i++)
        if (p->srv[i].agent)
            a = &p->srv[i];
    if (!a)
        return;
    h->line = a->line;
    if (!a->agent_port) {
        hx_warn_about(h, h->line, "agent-check", a->name, "no agent-port: the agent is not asked");
        return;
    }
    fprintf(y, "      agent: {port: %u, ", a->agent_port);
    duration(y, "interval", a->agent_inter ? a->agent_inter : s0->inter ? s0->inter : 2000);
    if (a->agent_send) {
        fputs(", send: ", y);
        quoted(y, a->agent_send);
    }
    fputs("}\n", y);
}

static void write_health(struct hx *h, FILE *y, const struct hx_proxy *p, const struct hx_srv *s0)
{
    size_t checked = 0;
    bool ssl = false, verify_none = false, shutdown = false;
    const char *kind;
    for (size_t i = 0; i < p->n_srv; i++) {
        checked += p->srv[i].check;
        ssl |= p->srv[i].check_ssl;
        verify_none |= p->srv[i].verify_none;
        shutdown |= p->srv[i].shutdown_sessions;
    }
    if (checked && checked != p->n_srv) {
        hx_warn_about(h, p->line, "backend", p->name,
                      "some servers are checked and some are not: all are checked");
    }
    kind = !checked ? "none" : p->check == HX_CHECK_HTTP && ssl ? "https" : check_kind[p->check];
    fprintf(y, "    health:\n      kind: %s\n", kind);
    write_agent(h, y, p, s0);
    if (!checked) /* HAProxy keeps a server without `check` always up */
        return;
    if (p->check == HX_CHECK_HTTP) {
        fputs("      path: ", y);
        quoted(y, p->http_path ? p->http_path : "/");
        fprintf(y, "\n      expect_status: [%u]\n", p->expect_status ? p->expect_status : 200);
        if (!p->expect_status)
            fputs("      # HAProxy passes any 2xx or 3xx without http-check expect\n", y);
        if (p->expect_body) {
            fputs("      expect_body: ", y);
            quoted(y, p->expect_body);
            fputs("\n", y);
        }
    }
    duration(y, "      interval", s0->inter ? s0->inter : 2000);
    fputs("\n", y);
    duration(y, "      down_interval",
             s0->downinter ? s0->downinter
             : s0->inter   ? s0->inter
                           : 2000);
    /* HAProxy bounds a check's connect by min(timeout connect, inter), and the whole check by
     * inter, or by the connect plus `timeout check` when that is set. */
    uint64_t inter = s0->inter ? s0->inter : 2000;
    uint64_t conn = p->t_connect && p->t_connect < inter ? p->t_connect : inter;
    uint64_t t = p->check == HX_CHECK_TCP ? conn : p->t_check ? conn + p->t_check : inter;
    fputs("\n", y);
    duration(y, "      timeout", t < inter ? t : inter);
    fprintf(y, "\n      rise: %u\n      fall: %u\n", s0->rise ? s0->rise : 2,
            s0->fall ? s0->fall : 3);
    fprintf(y, "      on_down: %s\n", shutdown ? "close" : "keep");
    if ((ssl || p->check == HX_CHECK_TLS) && verify_none)
        fputs("      tls: {verify: false}\n", y);
}

static void write_server(FILE *y, const struct hx_srv *s)
{
    fputs("      - {address: ", y);
    quoted(y, s->addr);
    if (s->disabled)
        fputs(", weight: 0", y); /* HAProxy's maintenance: no traffic */
    else if (s->has_weight)
        fprintf(y, ", weight: %u", s->weight);
    if (s->backup)
        fputs(", backup: true", y);
    if (s->port)
        fprintf(y, ", check_port: %u", s->port);
    if (s->check_addr) {
        fputs(", check_address: ", y);
        quoted(y, s->check_addr);
    }
    if (s->send_proxy)
        fprintf(y, ", send_proxy: v%d", s->send_proxy);
    if (s->maxconn)
        fprintf(y, ", maxconn: %u", s->maxconn);
    fputs("}\n", y);
}

/* The queue (HAProxy's is per server, k3lb's per backend: their sum) and slow start. */
static void write_limits(struct hx *h, FILE *y, const struct hx_proxy *p)
{
    unsigned queue = 0;
    uint64_t slow = 0;
    bool limited = false, uneven = false;
    for (size_t i = 0; i < p->n_srv; i++) {
        limited |= p->srv[i].maxconn > 0;
        queue += p->srv[i].maxqueue;
        uneven |= i && p->srv[i].slowstart != p->srv[0].slowstart;
        slow = p->srv[i].slowstart > slow ? p->srv[i].slowstart : slow;
    }
    if (queue)
        fprintf(y, "    max_queue: %u\n", queue);
    if (limited && (p->t_queue || p->t_connect)) /* HAProxy waits timeout connect without one */
        duration(y, "    queue_timeout", p->t_queue ? p->t_queue : p->t_connect), fputs("\n", y);
    if (slow)
        duration(y, "    slowstart", slow), fputs("\n", y);
    if (uneven) {
        hx_warn_about(h, p->line, "slowstart", p->name,
                      "servers differ: the longest is the backend's");
    }
}

static void write_backends(struct hx *h, FILE *y)
{
    bool any = false;
    for (size_t i = 0; i < h->n_p; i++) {
        const struct hx_proxy *p = h->p[i];
        uint64_t idle = p->t_tunnel                 ? p->t_tunnel
                        : p->t_client > p->t_server ? p->t_client
                                                    : p->t_server;
        if (p->kind == HX_FRONTEND)
            continue;
        if (!p->n_srv) {
            hx_warn_about(h, p->line, p->kind == HX_LISTEN ? "listen" : "backend", p->name,
                          "no servers");
            continue;
        }
        if (!any)
            fputs("backends:\n", y);
        any = true;
        fputs("  - name: ", y);
        quoted(y, p->name);
        fprintf(y, "\n    balance: %s\n", p->balance ? p->balance : "roundrobin");
        if (p->t_connect)
            duration(y, "    connect_timeout", p->t_connect), fputs("\n", y);
        if (idle)
            duration(y, "    idle_timeout", idle), fputs("\n", y);
        write_limits(h, y, p);
        fputs("    servers:\n", y);
        for (size_t s = 0; s < p->n_srv; s++)
            write_server(y, &p->srv[s]);
        write_health(h, y, p, &p->srv[0]);
    }
}

void hx_write_yaml(struct hx *h, FILE *y)
{
    unsigned maxconn = h->g_maxconn;
    fprintf(y, "# k3lb config written by `k3lb import-haproxy` from %s\n", h->file);
    if (h->g_threads)
        fprintf(y, "workers: %u\n", h->g_threads);
    size_t capped = 0;
    for (size_t i = 0; i < h->n_p; i++) {
        const struct hx_proxy *p = h->p[i];
        if (p->kind == HX_BACKEND || !p->maxconn || !p->n_binds)
            continue;
        if (!h->g_maxconn)
            maxconn += p->maxconn; /* per frontend in HAProxy, for the process here */
        /* one limit for the process: the same only when it is the one frontend's own */
        if (++capped > 1 || (h->g_maxconn && p->maxconn < h->g_maxconn)) {
            hx_warn_about(h, p->line, "maxconn", p->name,
                          "a frontend's own limit: k3lb has one for the process");
        }
    }
    if (maxconn)
        fprintf(y, "maxconn: %u\n", maxconn);
    if (h->g_user) {
        fputs("user: ", y);
        quoted(y, h->g_user);
        fputs("\n", y);
    }
    write_frontends(h, y);
    write_backends(h, y);
}
