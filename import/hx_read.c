/* Reading for k3lb import-haproxy: an HAProxy config, line by line as HAProxy reads it. Each
 * frontend, backend or listen starts from the last defaults section above it; `default-server`
 * gives a backend's servers their defaults. What k3lb can express is kept for
 * import/hx_write.c to write; every other directive gets one warning line, and the import
 * is marked as differing when that directive changes what the traffic sees (process settings
 * such as logging, daemon or chroot do not). */
#include "import/hx_read.h"
#include "common/xalloc.h"

#include "import/hx.h"
#include "import/hx_rules.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- words ------------------------------------------------------------------------------ */

static char unescape(char c)
{
    return c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
}

/* Splits one line into words: spaces separate, quotes and backslashes escape, # comments. */
static size_t tokenize(char *line, char **tok)
{
    size_t n = 0;
    char *r = line, *w = line;
    while (*r) {
        char quote = 0;
        while (*r == ' ' || *r == '\t' || *r == '\r')
            r++;
        if (!*r || *r == '#')
            break;
        if (n == MAX_TOKENS)
            break;
        tok[n++] = w;
        while (*r && (quote || (*r != ' ' && *r != '\t' && *r != '\r' && *r != '#'))) {
            if (!quote && (*r == '"' || *r == '\'')) {
                quote = *r++;
            } else if (quote && *r == quote) {
                quote = 0;
                r++;
            } else if (*r == '\\' && r[1] && quote != '\'') {
                *w++ = unescape(r[1]); /* \n \r \t as HAProxy reads them; others stand */
                r += 2;
            } else {
                *w++ = *r++;
            }
        }
        if (*r)
            r++;
        *w++ = '\0';
        if (w > r)
            break; /* cannot happen: writing never overtakes reading; a guard all the same */
    }
    return n;
}

/* ---- sections --------------------------------------------------------------------------- */

static void srv_copy(struct hx_srv *dst, const struct hx_srv *src)
{
    *dst = *src;
    dst->name = src->name ? xstrdup(src->name) : NULL;
    dst->addr = src->addr ? xstrdup(src->addr) : NULL;
    dst->check_addr = src->check_addr ? xstrdup(src->check_addr) : NULL;
    dst->agent_send = src->agent_send ? xstrdup(src->agent_send) : NULL;
}

static void srv_free(struct hx_srv *s)
{
    free(s->name);
    free(s->addr);
    free(s->check_addr);
    free(s->agent_send);
}

static void proxy_free(struct hx_proxy *p)
{
    free(p->name);
    free(p->balance);
    free(p->default_backend);
    free(p->http_path);
    free(p->expect_body);
    free(p->rate_table);
    for (size_t i = 0; i < p->n_binds; i++)
        free(p->binds[i]);
    srv_free(&p->defsrv);
    for (size_t i = 0; i < p->n_srv; i++)
        srv_free(&p->srv[i]);
    for (size_t i = 0; i < p->n_routes; i++)
        hx_route_free(p->routes[i]);
    for (size_t i = 0; i < p->n_acls; i++)
        hx_route_free(p->acls[i]);
}

/* A new frontend, backend or listen: the last defaults' settings, its strings copied. A
 * defaults section never holds binds, servers or a name (directive() keeps them out), so a
 * copy of it has none either. */
static struct hx_proxy *proxy_new(struct hx *h, enum hx_kind kind, const char *name)
{
    struct hx_proxy *p = xcalloc(1, sizeof(*p));
    const struct hx_proxy *d = &h->defaults;
    *p = *d;
    p->kind = kind;
    p->name = xstrdup(name);
    p->line = h->line;
    p->balance = d->balance ? xstrdup(d->balance) : NULL;
    p->default_backend = d->default_backend ? xstrdup(d->default_backend) : NULL;
    p->http_path = d->http_path ? xstrdup(d->http_path) : NULL;
    p->expect_body = d->expect_body ? xstrdup(d->expect_body) : NULL;
    p->n_routes = p->n_acls = 0; /* a defaults section has none (directive() keeps them out) */
    p->rate_table = NULL;
    srv_copy(&p->defsrv, &d->defsrv);
    return p;
}

/* The keywords that open a section: the first five are read, the others skipped. */
static const char *const section_names[] = {
    "global",    "defaults", "frontend", "backend", "listen",  "userlist",    "peers",
    "resolvers", "program",  "cache",    "ring",    "mailers", "http-errors", NULL};

static bool is_section(const char *word)
{
    for (size_t i = 0; section_names[i]; i++)
        if (strcmp(word, section_names[i]) == 0)
            return true;
    return false;
}

static void section(struct hx *h, char **tok, size_t n)
{
    enum hx_kind kind = HX_DEFAULTS;
    h->in_other = h->in_global = false;
    h->cur = NULL;
    if (strcmp(tok[0], "global") == 0) {
        h->in_global = true;
        return;
    }
    if (strcmp(tok[0], "defaults") == 0) {
        proxy_free(&h->defaults);
        memset(&h->defaults, 0, sizeof(h->defaults));
        h->defaults.kind = HX_DEFAULTS;
        h->cur = &h->defaults;
        if (n > 1)
            hx_warn(h, false, tok, n, "named defaults are read as the defaults that follow");
        return;
    }
    if (strcmp(tok[0], "frontend") == 0)
        kind = HX_FRONTEND;
    else if (strcmp(tok[0], "backend") == 0)
        kind = HX_BACKEND;
    else if (strcmp(tok[0], "listen") == 0)
        kind = HX_LISTEN;
    if (kind == HX_DEFAULTS) { /* userlist, peers, resolvers, program, cache, ring... */
        h->in_other = true;
        hx_warn(h, strcmp(tok[0], "resolvers") != 0, tok, n,
                strcmp(tok[0], "resolvers") == 0 ? "k3lb resolves names itself" : NULL);
        return;
    }
    if (n < 2 || h->n_p == MAX_ITEMS) {
        hx_warn(h, true, tok, n, n < 2 ? "a section without a name" : "too many sections");
        h->in_other = true;
        return;
    }
    h->cur = h->p[h->n_p++] = proxy_new(h, kind, tok[1]);
}

/* ---- directives --------------------------------------------------------------------------- */

static void global(struct hx *h, char **tok, size_t n)
{
    static const char *const quiet[] = {"log",
                                        "daemon",
                                        "chroot",
                                        "pidfile",
                                        "master-worker",
                                        "stats",
                                        "ca-base",
                                        "crt-base",
                                        "group",
                                        "nbproc",
                                        "ssl-default-bind-ciphers",
                                        "ssl-default-bind-options",
                                        "ssl-default-server-ciphers",
                                        "ssl-default-server-options",
                                        "log-send-hostname",
                                        "ssl-default-bind-ciphersuites",
                                        "ssl-default-server-ciphersuites",
                                        "tune.ssl.default-dh-param",
                                        NULL};
    unsigned v;
    if (strcmp(tok[0], "maxconn") == 0 && n == 2 && hx_uint(tok[1], 10000000, &v)) {
        h->g_maxconn = v;
        return;
    }
    if (strcmp(tok[0], "nbthread") == 0 && n == 2 && hx_uint(tok[1], 256, &v)) {
        h->g_threads = v;
        return;
    }
    if (strcmp(tok[0], "user") == 0 && n == 2) {
        hx_set_str(&h->g_user, tok[1]);
        return;
    }
    for (size_t i = 0; quiet[i]; i++)
        if (strcmp(tok[0], quiet[i]) == 0) {
            hx_warn(h, false, tok, n, "a process setting; no effect on traffic");
            return;
        }
    hx_warn(h, true, tok, n, NULL);
}

/* A server line's or default-server's keywords from tok[from]. */
static void server_words(struct hx *h, struct hx_srv *s, char **tok, size_t n, size_t from)
{
    for (size_t i = from; i < n; i++) {
        const char *k = tok[i], *v = i + 1 < n ? tok[i + 1] : NULL;
        unsigned u;
        if (strcmp(k, "check") == 0)
            s->check = true;
        else if (strcmp(k, "backup") == 0)
            s->backup = true;
        else if (strcmp(k, "disabled") == 0)
            s->disabled = true;
        else if (strcmp(k, "enabled") == 0)
            s->disabled = false;
        else if (strcmp(k, "check-ssl") == 0)
            s->check_ssl = true;
        else if (strcmp(k, "send-proxy") == 0)
            s->send_proxy = 1;
        else if (strcmp(k, "send-proxy-v2") == 0)
            s->send_proxy = 2;
        else if (strcmp(k, "no-send-proxy") == 0 || strcmp(k, "no-send-proxy-v2") == 0)
            s->send_proxy = 0;
        else if (strcmp(k, "verify") == 0 && v && strcmp(v, "none") == 0 && ++i)
            s->verify_none = true;
        else if (strcmp(k, "on-marked-down") == 0 && v && strcmp(v, "shutdown-sessions") == 0 &&
                 ++i)
            s->shutdown_sessions = true;
        else if (strcmp(k, "weight") == 0 && hx_uint(v, 256, &u) && ++i)
            s->weight = u, s->has_weight = true;
        else if (strcmp(k, "rise") == 0 && hx_uint(v, 100, &u) && u && ++i)
            s->rise = u;
        else if (strcmp(k, "fall") == 0 && hx_uint(v, 100, &u) && u && ++i)
            s->fall = u;
        else if (strcmp(k, "port") == 0 && hx_uint(v, 65535, &u) && u && ++i)
            s->port = u;
        else if (strcmp(k, "addr") == 0 && v && ++i)
            hx_set_str(&s->check_addr, v);
        else if ((strcmp(k, "inter") == 0 || strcmp(k, "downinter") == 0) && hx_time(v) && ++i)
            *(k[0] == 'i' ? &s->inter : &s->downinter) = hx_time(v);
        else if (strcmp(k, "maxconn") == 0 && hx_uint(v, 1000000, &u) && ++i)
            s->maxconn = u;
        else if (strcmp(k, "maxqueue") == 0 && hx_uint(v, 1000000, &u) && ++i)
            s->maxqueue = u;
        else if (strcmp(k, "slowstart") == 0 && hx_time(v) && ++i)
            s->slowstart = hx_time(v);
        else if (strcmp(k, "agent-check") == 0)
            s->agent = true;
        else if (strcmp(k, "no-agent-check") == 0)
            s->agent = false;
        else if (strcmp(k, "agent-port") == 0 && hx_uint(v, 65535, &u) && u && ++i)
            s->agent_port = u;
        else if (strcmp(k, "agent-inter") == 0 && hx_time(v) && ++i)
            s->agent_inter = hx_time(v);
        else if (strcmp(k, "agent-send") == 0 && v && ++i)
            hx_set_str(&s->agent_send, v);
        else if (strcmp(k, "resolvers") == 0 || strcmp(k, "init-addr") == 0 ||
                 strcmp(k, "resolve-prefer") == 0 || strcmp(k, "fastinter") == 0 ||
                 strcmp(k, "sni") == 0 || strcmp(k, "check-sni") == 0)
            hx_warn(h, false, &tok[i], v ? 2 : 1, "k3lb resolves and probes in its own way"), i++;
        else
            hx_warn(h, true, &tok[i], v ? 2 : 1, "server keyword");
    }
}

/* "ADDR:PORT" as k3lb writes it ("[v6]:port"); NULL without a port. */
static char *server_addr(const char *a)
{
    const char *colon;
    char *out;
    if (strncmp(a, "ipv4@", 5) == 0 || strncmp(a, "ipv6@", 5) == 0)
        a += 5;
    colon = strrchr(a, ':');
    if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return NULL;
    out = xcalloc(1, strlen(a) + 3);
    if (memchr(a, ':', (size_t)(colon - a)) && a[0] != '[')
        sprintf(out, "[%.*s]%s", (int)(colon - a), a, colon);
    else
        strcpy(out, a);
    return out;
}

static void server(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    struct hx_srv *s;
    char *addr = n >= 3 ? server_addr(tok[2]) : NULL;
    if (!addr || p->n_srv == MAX_ITEMS) {
        hx_warn(h, true, tok, n,
                !addr ? "a server needs host:port (a port taken from the client is not supported)"
                      : "too many servers");
        free(addr);
        return;
    }
    s = &p->srv[p->n_srv++];
    srv_copy(s, &p->defsrv);
    hx_set_str(&s->name, tok[1]);
    free(s->addr);
    s->addr = addr;
    s->line = h->line;
    server_words(h, s, tok, n, 3);
}

/* "*:6443", ":6443", "0.0.0.0:6443", "ipv6@:::6443" -> a k3lb listen address. */
static char *bind_addr(const char *a)
{
    char *out;
    if (a[0] == '*' && a[1] == ':')
        a++;
    if (strncmp(a, "0.0.0.0:", 8) == 0)
        a += 7;
    if (a[0] == '/' || strncmp(a, "unix@", 5) == 0) {
        out = xcalloc(1, strlen(a) + 6);
        sprintf(out, "unix:%s", a[0] == '/' ? a : a + 5);
        return out;
    }
    if (a[0] == ':')
        return strspn(a + 1, "0123456789") == strlen(a + 1) && a[1] ? xstrdup(a) : NULL;
    return server_addr(a);
}

static void bind(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (i == 1) {
            char *list = xstrdup(tok[1]), *save = NULL;
            for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
                char *addr = bind_addr(a);
                if (!addr || p->n_binds == MAX_ITEMS || strchr(a, '-')) {
                    hx_warn(h, true, tok, 2, "an address k3lb cannot listen on (ranges, no port)");
                    free(addr);
                    continue;
                }
                p->binds[p->n_binds++] = addr;
            }
            free(list);
        } else if (strcmp(tok[i], "accept-proxy") == 0) {
            p->accept_proxy = true;
        } else if (strcmp(tok[i], "v4v6") == 0 || strcmp(tok[i], "v6only") == 0 ||
                   strcmp(tok[i], "transparent") == 0 || strcmp(tok[i], "name") == 0) {
            hx_warn(h, false, &tok[i], 1, "k3lb's sockets choose this themselves");
            i += strcmp(tok[i], "name") == 0;
        } else {
            hx_warn(h, true, &tok[i], n - i, "bind option");
            break;
        }
    }
}

static void option(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    const char *o = n > 1 ? tok[1] : "";
    if (strcmp(o, "tcplog") == 0 || strcmp(o, "httplog") == 0) {
        p->tcplog = true;
    } else if (strcmp(o, "httpchk") == 0) {
        p->check = HX_CHECK_HTTP;
        /* option httpchk [<method>] <uri> [<version>]; a lone argument is the uri */
        hx_set_str(&p->http_path, n == 3 ? tok[2] : n >= 4 ? tok[3] : "/");
        if (n >= 4 && strcmp(tok[2], "GET") != 0 && strcmp(tok[2], "HEAD") != 0 &&
            strcmp(tok[2], "OPTIONS") != 0)
            hx_warn(h, true, tok, n, "k3lb's http check sends GET");
    } else if (strcmp(o, "tcp-check") == 0) {
        p->check = HX_CHECK_TCP;
    } else if (strcmp(o, "pgsql-check") == 0) {
        p->check = HX_CHECK_PG;
    } else if (strcmp(o, "mysql-check") == 0) {
        p->check = HX_CHECK_MYSQL;
    } else if (strcmp(o, "ssl-hello-chk") == 0) {
        p->check = HX_CHECK_TLS;
    } else if (strcmp(o, "redispatch") == 0 || strcmp(o, "dontlognull") == 0 ||
               strcmp(o, "log-health-checks") == 0 || strcmp(o, "tcpka") == 0 ||
               strcmp(o, "clitcpka") == 0 || strcmp(o, "srvtcpka") == 0 ||
               strcmp(o, "splice-auto") == 0) {
        hx_warn(h, false, tok, n, "what k3lb does anyway: retries on another server, keepalive");
    } else {
        hx_warn(h, true, tok, n, NULL);
    }
}

static void timeout(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    uint64_t v = n == 3 ? hx_time(tok[2]) : 0;
    uint64_t *slot = NULL;
    if (n == 3 && strcmp(tok[1], "connect") == 0)
        slot = &p->t_connect;
    else if (n == 3 && strcmp(tok[1], "client") == 0)
        slot = &p->t_client;
    else if (n == 3 && strcmp(tok[1], "server") == 0)
        slot = &p->t_server;
    else if (n == 3 && strcmp(tok[1], "tunnel") == 0)
        slot = &p->t_tunnel;
    else if (n == 3 && strcmp(tok[1], "check") == 0)
        slot = &p->t_check;
    else if (n == 3 && strcmp(tok[1], "queue") == 0)
        slot = &p->t_queue;
    if (slot && v)
        *slot = v;
    else if (n >= 2 &&
             (strcmp(tok[1], "http-request") == 0 || strcmp(tok[1], "http-keep-alive") == 0 ||
              strcmp(tok[1], "client-fin") == 0 || strcmp(tok[1], "server-fin") == 0))
        hx_warn(h, false, tok, n, "no HTTP in k3lb");
    else
        hx_warn(h, true, tok, n, NULL);
}

static void http_check(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    unsigned v;
    if (n == 4 && strcmp(tok[1], "expect") == 0 && strcmp(tok[2], "status") == 0 &&
        hx_uint(tok[3], 599, &v) && v >= 100) {
        p->expect_status = v;
    } else if (n == 4 && strcmp(tok[1], "expect") == 0 && strcmp(tok[2], "string") == 0) {
        hx_set_str(&p->expect_body, tok[3]);
    } else if (n >= 3 && strcmp(tok[1], "send") == 0) {
        for (size_t i = 2; i + 1 < n; i += 2)
            if (strcmp(tok[i], "uri") == 0)
                hx_set_str(&p->http_path, tok[i + 1]);
            else if (strcmp(tok[i], "meth") != 0 || strcmp(tok[i + 1], "GET") != 0)
                hx_warn(h, true, &tok[i], 2, "k3lb's http check sends GET path");
    } else {
        hx_warn(h, true, tok, n, NULL);
    }
}

/* One directive inside a frontend, backend, listen or defaults section. */
static void directive(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    const char *d = tok[0];
    unsigned v;
    bool fe = p->kind != HX_BACKEND, be = p->kind != HX_FRONTEND;
    if (strcmp(d, "mode") == 0 && n == 2 && strcmp(tok[1], "tcp") == 0) {
        /* what k3lb does */
    } else if (strcmp(d, "mode") == 0) {
        hx_warn(h, true, tok, n, "k3lb forwards TCP (mode tcp) only");
    } else if (strcmp(d, "bind") == 0 && fe && p->kind != HX_DEFAULTS && n >= 2) {
        bind(h, p, tok, n);
    } else if ((strcmp(d, "default_backend") == 0 || strcmp(d, "use_backend") == 0) && fe &&
               n == 2) {
        hx_set_str(&p->default_backend, tok[1]);
    } else if (strcmp(d, "use_backend") == 0 && fe && p->kind != HX_DEFAULTS && n >= 4) {
        hx_use_backend(h, p, tok, n);
    } else if (strcmp(d, "acl") == 0 && fe && p->kind != HX_DEFAULTS) {
        hx_acl(h, p, tok, n);
    } else if (strcmp(d, "tcp-request") == 0 && fe && p->kind != HX_DEFAULTS && n >= 2) {
        hx_tcp_request(h, p, tok, n);
    } else if (strcmp(d, "stick-table") == 0 && p->kind != HX_DEFAULTS) {
        hx_stick_table(h, p, tok, n);
    } else if (strcmp(d, "maxconn") == 0 && n == 2 && hx_uint(tok[1], 10000000, &v)) {
        p->maxconn = v;
    } else if (strcmp(d, "balance") == 0 && n == 2 &&
               (strcmp(tok[1], "roundrobin") == 0 || strcmp(tok[1], "static-rr") == 0 ||
                strcmp(tok[1], "leastconn") == 0 || strcmp(tok[1], "source") == 0 ||
                strcmp(tok[1], "first") == 0 || strcmp(tok[1], "random") == 0)) {
        hx_set_str(&p->balance, strcmp(tok[1], "static-rr") == 0 ? "roundrobin" : tok[1]);
    } else if (strcmp(d, "option") == 0) {
        option(h, p, tok, n);
    } else if (strcmp(d, "timeout") == 0) {
        timeout(h, p, tok, n);
    } else if (strcmp(d, "http-check") == 0 && be) {
        http_check(h, p, tok, n);
    } else if (strcmp(d, "default-server") == 0 && be) {
        server_words(h, &p->defsrv, tok, n, 1);
    } else if (strcmp(d, "server") == 0 && be && p->kind != HX_DEFAULTS && n >= 2) {
        server(h, p, tok, n);
    } else if (strcmp(d, "log") == 0 || strcmp(d, "description") == 0 || strcmp(d, "id") == 0 ||
               strcmp(d, "stats") == 0 || strcmp(d, "retries") == 0) {
        hx_warn(h, false, tok, n, "no effect on what the traffic sees");
    } else {
        hx_warn(h, true, tok, n, NULL);
    }
}

void hx_read(struct hx *h, const char *text, size_t len)
{
    char *tok[MAX_TOKENS];
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t l = nl ? (size_t)(nl - (text + at)) : len - at;
        char *line = xcalloc(1, l + 1);
        size_t n;
        memcpy(line, text + at, l);
        for (size_t i = 0; i < l; i++)
            if (!line[i])
                line[i] = ' '; /* a NUL inside a line is a space, not its end */
        at += l + 1;
        h->line++;
        n = tokenize(line, tok);
        if (n && line[0] != ' ' && line[0] != '\t' && is_section(tok[0]))
            section(h, tok, n);
        else if (n && h->in_global)
            global(h, tok, n);
        else if (n && h->cur)
            directive(h, h->cur, tok, n);
        else if (n && !h->in_other)
            hx_warn(h, true, tok, n, "outside any section");
        free(line);
    }
}

void hx_release(struct hx *h)
{
    for (size_t i = 0; i < h->n_p; i++) {
        proxy_free(h->p[i]);
        free(h->p[i]);
    }
    proxy_free(&h->defaults);
    free(h->g_user);
}
