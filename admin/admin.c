/* The admin HTTP server: routing by the table in api.c, limits, token, JSON errors. Every
 * answer is JSON (metrics excepted); an error says what went wrong and, where it helps, what to
 * do. */
#include "admin/admin.h"
#include "admin/api.h"
#include "admin/page.h"
#include "admin/body.h"
#include "admin/healthz.h"
#include "common/xalloc.h"
#include "common/clock.h"

#include "config/secret.h"
#include "common/log.h"
#include "admin/metrics.h"
#include "common/net.h"
#include "runtime/runtime.h"
#include "runtime/servers.h"
#include "admin/status.h"
#include "common/upgrade.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADMIN_MAX_BODY    65536
#define ADMIN_MAX_HEADERS 16384
#define ADMIN_TIMEOUT_S   10

/* A connection's stream, with a reference of ours. */
struct admin_conn {
    struct bufferevent *bev;
    uint64_t since_ms; /* accepted at (monotonic) */
    bool evicted;      /* shut down to make room; evhttp closes it on its next read */
};

struct admin {
    struct evhttp *http;               /* libevent's HTTP server */
    struct lb_runtime *rt;             /* what it reports on and commands */
    struct admin_hooks hooks;          /* commands offered by others; NULL members when absent */
    char *token;                       /* bearer token clients must send, or NULL */
    char *unix_path;                   /* socket file to remove at exit, or NULL */
    int fd;                            /* the listening socket */
    struct evhttp_bound_socket *bound; /* libevent's listener on it */
    struct event *resume;              /* re-enables accepting after a shortage */
    bool paused;                       /* accepting paused for want of descriptors */
    struct admin_conn *conns;          /* open connections, oldest first */
    size_t n_conns;
    bool full;    /* ADMIN_MAX_CONNS open, none of them idle: accepting paused */
    bool crowded; /* ADMIN_MAX_CONNS reached: an episode, logged once */
};

/* Open admin connections at most: each holds a descriptor the balancer may need. Idle ones
 * are closed after ADMIN_TIMEOUT_S, and sooner when a new client needs the room: the oldest
 * that is not writing an answer goes, so idle clients (slowloris) never lock the API out. */
#define ADMIN_MAX_CONNS 32
/* A connection younger than this is never closed to make room: its request may be on its way. */
#define ADMIN_IDLE_MIN_MS 250

#define ADMIN_PAUSE_MS 250

static void reply_json(struct evhttp_request *req, int code, cJSON *body)
{
    struct evbuffer *out = evbuffer_new();
    char *text = cJSON_PrintUnformatted(body);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(out, text, strlen(text));
    evbuffer_add(out, "\n", 1);
    evhttp_send_reply(req, code, NULL, out);
    evbuffer_free(out);
    free(text);
    cJSON_Delete(body);
}

static void reply_error(struct evhttp_request *req, int code, const char *error, const char *hint)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", error);
    if (hint)
        cJSON_AddStringToObject(o, "hint", hint);
    reply_json(req, code, o);
}

static void reply_ok(struct evhttp_request *req, int code, const char *what)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "result", what);
    reply_json(req, code, o);
}

/* The request body as text (malloc'd, NUL-terminated); its length in *len. */
static char *body_text(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    char *text;
    *len = evbuffer_get_length(in);
    text = xmalloc(*len + 1);
    evbuffer_copyout(in, text, *len);
    text[*len] = '\0';
    return text;
}

static void answer(struct evhttp_request *req, enum lb_api rc, const char *err, const char *done)
{
    static const int codes[] = {200, 202, 400, 404, 409};
    if (rc == LB_API_OK || rc == LB_API_ACCEPTED)
        reply_ok(req, codes[rc], done);
    else
        reply_error(req, codes[rc], err, rc == LB_API_NOT_FOUND ? "see GET /status" : NULL);
}

/* ---- routes --------------------------------------------------------------------------------- */

static void add_server(struct admin *a, struct evhttp_request *req, const char *backend)
{
    struct admin_body_add body;
    char err[256], *text;
    size_t len;
    text = body_text(req, &len);
    if (admin_body_add(text, len, &body, err, sizeof(err)) < 0) {
        reply_error(req, 400, err, "{\"address\": \"10.0.0.14:2379\", \"weight\": 1}");
    } else {
        enum lb_api rc =
            lb_runtime_add_server(a->rt, backend, body.address, body.weight, err, sizeof(err));
        answer(req, rc, err, "added; it takes traffic once its checks pass");
        free(body.address);
    }
    free(text);
}

static void set_server(struct admin *a, struct evhttp_request *req, const char *backend,
                       const char *address)
{
    struct admin_body_set body;
    char err[256], *text;
    size_t len;
    text = body_text(req, &len);
    if (admin_body_set(text, len, &body, err, sizeof(err)) < 0)
        reply_error(req, 400, err, "{\"state\": \"drain\"} or {\"weight\": 2}");
    else
        answer(req,
               lb_runtime_set_server(a->rt, backend, address, body.state, body.weight, err,
                                     sizeof(err)),
               err, "updated");
    free(text);
}

static void remove_server(struct admin *a, struct evhttp_request *req, const char *backend,
                          const char *address, bool force)
{
    char err[256];
    enum lb_api rc = lb_runtime_remove_server(a->rt, backend, address, force, err, sizeof(err));
    answer(req, rc, err,
           rc == LB_API_ACCEPTED ? "draining; removed when its last connection ends" : "removed");
}

/* GET /status: the balancer's state, and the announcement's when there is one. */
static cJSON *status(struct admin *a)
{
    cJSON *root = lb_status_json(a->rt);
    struct admin_announce an = {0};
    if (a->hooks.announce)
        a->hooks.announce(a->hooks.arg, &an);
    admin_announce_json(root, &an);
    return root;
}

static void put_servers(struct admin *a, struct evhttp_request *req)
{
    char **list, err[256], *text;
    size_t n, len;
    text = body_text(req, &len);
    if (admin_body_list(text, len, &list, &n, err, sizeof(err)) < 0) {
        reply_error(req, 400, err, "[\"10.0.0.11:6443\", \"10.0.0.12:6443\"]");
        free(text);
        return;
    }
    if (a->hooks.put_servers(a->hooks.arg, (const char *const *)list, n, err, sizeof(err)) < 0)
        reply_error(req, 400, err, "write host:port or [v6]:port");
    else
        reply_json(req, 200, status(a));
    admin_body_list_free(list, n);
    free(text);
}

static void reload(struct admin *a, struct evhttp_request *req)
{
    char err[4096];
    if (a->hooks.reload(a->hooks.arg, err, sizeof(err)) == 0) {
        reply_ok(req, 200, "reloaded");
        return;
    }
    cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o, "errors");
    cJSON_AddStringToObject(o, "error", "reload refused; the current config keeps serving");
    for (char *save = NULL, *line = strtok_r(err, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        cJSON_AddItemToArray(list, cJSON_CreateString(line));
    reply_json(req, 400, o);
}

static void metrics(struct admin *a, struct evhttp_request *req)
{
    struct evbuffer *out = evbuffer_new();
    struct admin_announce an = {0};
    lb_metrics_render(a->rt, out);
    if (a->hooks.announce)
        a->hooks.announce(a->hooks.arg, &an);
    admin_announce_metrics(out, &an);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, NULL, out);
    evbuffer_free(out);
}

static bool authorized(struct admin *a, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    size_t n;
    if (!a->token)
        return true;
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    n = strlen(a->token);
    return strlen(h) == n && CRYPTO_memcmp(h, a->token, n) == 0;
}

/* ?force=true, read as a query, not searched for as text. */
static bool query_flag(const char *query, const char *name)
{
    struct evkeyvalq q;
    bool on = false;
    if (query && evhttp_parse_query_str(query, &q) == 0) {
        const char *v = evhttp_find_header(&q, name);
        on = v && strcmp(v, "true") == 0;
        evhttp_clear_headers(&q);
    }
    return on;
}

/* GET /healthz[?frontend=NAME...]: 200 with {"result": why} or 503/404 with {"error": why}. */
static void healthz(struct admin *a, struct evhttp_request *req, const char *query)
{
    struct evkeyvalq q;
    struct evkeyval *kv;
    const char *names[64];
    size_t n = 0;
    char msg[1024];
    int code;

    TAILQ_INIT(&q);
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        reply_error(req, 400, "malformed query", "use ?frontend=NAME, once per frontend");
        return;
    }
    TAILQ_FOREACH(kv, &q, next)
    {
        if (strcmp(kv->key, "frontend") != 0 || n == sizeof(names) / sizeof(names[0])) {
            reply_error(req, 400, "the query takes up to 64 frontend=NAME", NULL);
            evhttp_clear_headers(&q);
            return;
        }
        names[n++] = kv->value;
    }
    code = admin_healthz(a->rt, a->hooks.stopping && a->hooks.stopping(a->hooks.arg), names, n, msg,
                         sizeof(msg));
    if (code == 200)
        reply_ok(req, code, msg);
    else
        reply_error(req, code, msg, NULL);
    evhttp_clear_headers(&q);
}

static void run_op(struct admin *a, struct evhttp_request *req, enum admin_op op,
                   const struct admin_path_args *args, const char *query)
{
    switch (op) {
    case ADMIN_OP_STATUS:
        reply_json(req, 200, status(a));
        break;
    case ADMIN_OP_METRICS:
        metrics(a, req);
        break;
    case ADMIN_OP_RELOAD:
        if (a->hooks.reload)
            reload(a, req);
        else
            reply_error(req, 404, "no config file to reload here", NULL);
        break;
    case ADMIN_OP_SERVERS:
        if (a->hooks.put_servers)
            put_servers(a, req);
        else
            reply_error(req, 404, "only k3lb agent takes a server list", NULL);
        break;
    case ADMIN_OP_ADD:
        add_server(a, req, args->backend);
        break;
    case ADMIN_OP_SET:
        set_server(a, req, args->backend, args->server);
        break;
    case ADMIN_OP_REMOVE:
        remove_server(a, req, args->backend, args->server, query_flag(query, "force"));
        break;
    case ADMIN_OP_HEALTH:
        healthz(a, req, query);
        break;
    case ADMIN_OP_PAGE:
        admin_page_reply(req);
        break;
    case ADMIN_OP_COUNT:
        break;
    }
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    default:
        return "";
    }
}

/* Finds the route for a decoded path and method: 401 without the token (unless the route is
 * open), 404 when no route has the path, 405 (naming what the path takes) when none has the
 * method. */
static void dispatch(struct admin *a, struct evhttp_request *req, const char *path,
                     const char *query)
{
    const char *method = method_name(evhttp_request_get_command(req));
    const struct admin_route *shape = NULL;
    struct admin_path_args args;
    char allowed[128];
    bool auth = authorized(a, req);
    for (size_t i = 0; i < admin_n_routes; i++) {
        const struct admin_route *r = &admin_routes[i];
        if (!admin_route_match(r, path, &args))
            continue;
        if (strcmp(r->method, method) == 0 && (auth || r->open)) {
            run_op(a, req, r->op, &args, query);
            return;
        }
        if (!shape)
            shape = r;
    }
    if (!auth) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        reply_error(req, 401, "missing or wrong token", "send Authorization: Bearer <token>");
    } else if (!shape) {
        reply_error(req, 404, "no such endpoint", "try GET /status");
    } else {
        snprintf(allowed, sizeof(allowed), "use %s %s", shape->method, shape->path);
        reply_error(req, 405, "method not allowed", allowed);
    }
}

static void forget_closed(struct admin *a);

static void route(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    const char *uri = evhttp_request_get_uri(req);
    forget_closed(a); /* streams of connections evhttp closed since: their descriptors go now */
    if (a->paused) {
        a->paused = false;
        log_info("admin_accept_resumed", "admin API: accepting again");
    }
    struct evhttp_uri *parsed = evhttp_uri_parse(uri);
    /* Routes match the raw path segment by segment and decode each name on its own, so an
     * encoded "/" stays inside a name. */
    const char *path = parsed ? evhttp_uri_get_path(parsed) : NULL;

    if (!path) {
        reply_error(req, 400, "malformed request URI", NULL);
    } else {
        dispatch(a, req, path, evhttp_uri_get_query(parsed));
    }
    if (parsed)
        evhttp_uri_free(parsed);
}

static void check_full(struct admin *a);

/* An accept failed (no descriptors left): libevent would retry at once, forever, logging each
 * time. Pause instead, say so once, and try again a little later. */
/* libevent hands the error callback evhttp's own pointer, not ours: the admin listener of the
 * process is found here instead (there is one; admin_free forgets it). */
static struct admin *live_admin;

static void accept_error(struct evconnlistener *lev, void *arg)
{
    struct admin *a = live_admin;
    struct timeval tv = {0, ADMIN_PAUSE_MS * 1000};
    int err = EVUTIL_SOCKET_ERROR();
    (void)arg;
    evconnlistener_disable(lev);
    if (!a || !a->bound || evhttp_bound_socket_get_listener(a->bound) != lev)
        return;
    if (!a->paused)
        log_warn("admin_accept_paused", "admin API: accept failed (%s); retrying every %d ms",
                 evutil_socket_error_to_string(err), ADMIN_PAUSE_MS);
    a->paused = true;
    event_add(a->resume, &tv);
}

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;
    (void)fd;
    (void)what;
    check_full(a);
    if (a->bound && !a->full)
        evconnlistener_enable(evhttp_bound_socket_get_listener(a->bound));
    /* the next accept error pauses again; one that works ends the episode (route()) */
}

/* ---- a cap on connections, which evhttp (libevent 2.1) lacks: each connection's stream is
 * made here with an extra reference; when evhttp lets a connection go it clears the stream's
 * callbacks, which is how a closed one is told from a live one. */

static void forget_closed(struct admin *a)
{
    size_t k = 0;
    for (size_t i = 0; i < a->n_conns; i++) {
        bufferevent_event_cb ecb = NULL;
        bufferevent_getcb(a->conns[i].bev, NULL, NULL, &ecb, NULL);
        if (ecb)
            a->conns[k++] = a->conns[i];
        else
            bufferevent_decref(a->conns[i].bev); /* evhttp is done with it: now it goes */
    }
    a->n_conns = k;
}

static size_t live_conns(const struct admin *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_conns; i++)
        n += !a->conns[i].evicted;
    return n;
}

/* Whether a connection is idle: open for a while, nothing unread in the kernel or in its
 * stream, nothing being answered. A client that just connected and is sending its request is
 * not, however many others arrive after it. */
static bool conn_idle(const struct admin_conn *c, uint64_t now)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    int unread = 0;
    if (c->evicted || fd < 0 || now - c->since_ms < ADMIN_IDLE_MIN_MS)
        return false;
    if (ioctl(fd, FIONREAD, &unread) < 0 || unread > 0)
        return false;
    return !evbuffer_get_length(bufferevent_get_input(c->bev)) &&
           !evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Shuts down the oldest idle connection; evhttp then sees its end and closes it as it would
 * any other. False when none is idle. */
static bool evict_one(struct admin *a)
{
    uint64_t now = clock_now_ms();
    for (size_t i = 0; i < a->n_conns; i++) {
        struct admin_conn *c = &a->conns[i];
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        if (!conn_idle(c, now))
            continue;
        c->evicted = true;
        shutdown(fd, SHUT_RDWR);
        return true;
    }
    return false;
}

static void pause_if_full(struct admin *a)
{
    struct timeval tv = {0, 100000};
    struct evconnlistener *lev = a->bound ? evhttp_bound_socket_get_listener(a->bound) : NULL;
    if (!lev)
        return;
    if (live_conns(a) < ADMIN_MAX_CONNS) {
        a->crowded = false; /* the episode is over */
    } else if (!a->crowded) {
        a->crowded = true;
        log_warn("admin_full",
                 "admin API: %d connections open; each new client closes the longest-idle one "
                 "(idle %d ms or more), or waits until there is one",
                 ADMIN_MAX_CONNS, ADMIN_IDLE_MIN_MS);
    }
    if (live_conns(a) >= ADMIN_MAX_CONNS && !evict_one(a)) {
        a->full = true;
        evconnlistener_disable(lev);
        event_add(a->resume, &tv); /* look again soon: closes are not announced */
    } else if (a->full) {
        a->full = false;
        evconnlistener_enable(lev); /* a shortage, if it lasts, pauses it again */
    }
}

/* From a timer, never while evhttp makes a connection. */
static void check_full(struct admin *a)
{
    forget_closed(a);
    pause_if_full(a);
}

static struct bufferevent *new_conn(struct event_base *base, void *arg)
{
    struct admin *a = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL; /* evhttp makes one itself */
    bufferevent_incref(bev);
    forget_closed(a); /* before the new one joins: its callbacks are not set yet */
    pause_if_full(a); /* makes room for it, or stops taking more after it */
    a->conns = xreallocarray(a->conns, a->n_conns + 1, sizeof(*a->conns));
    a->conns[a->n_conns++] = (struct admin_conn){.bev = bev, .since_ms = clock_now_ms()};
    return bev;
}

/* A unix socket's directory may not exist yet (/run/k3lb outside systemd). */
static void make_socket_dir(const char *path)
{
    char dir[512];
    char *slash;
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0755);
    }
}

struct admin *admin_new(struct event_base *base, const struct config_admin *cfg,
                        struct lb_runtime *rt, const struct admin_hooks *hooks, char *err,
                        size_t errlen)
{
    const struct net_addr *listen = &cfg->listen;
    struct admin *a = xcalloc(1, sizeof(*a));
    int fd;

    a->rt = rt;
    if (hooks)
        a->hooks = *hooks;
    if ((cfg->token_file || cfg->token_env) &&
        !(a->token =
              config_secret_read(cfg->token_file, cfg->token_env, "admin token", err, errlen)))
        goto fail;
    fd = upgrade_take_admin(); /* handed over by a binary upgrade */
    if (fd < 0) {
        if (listen->kind == NET_ADDR_UNIX)
            make_socket_dir(listen->path);
        fd = net_listen(listen, false, 64, err, errlen);
        if (fd < 0)
            goto fail;
    }
    a->fd = fd;
    if (listen->kind == NET_ADDR_UNIX) {
        chmod(listen->path, 0600);
        a->unix_path = xstrdup(listen->path);
    }
    a->http = evhttp_new(base);
    if (!a->http || !(a->bound = evhttp_accept_socket_with_handle(a->http, fd))) {
        snprintf(err, errlen, "%s: cannot serve HTTP", listen->text);
        close(fd);
        goto fail;
    }
    a->resume = evtimer_new(base, accept_resume, a);
    live_admin = a;
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(a->bound), accept_error);
    evhttp_set_bevcb(a->http, new_conn, a);
    evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY);
    evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS);
    evhttp_set_timeout(a->http, ADMIN_TIMEOUT_S);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(a->http, route, a);
    log_info("admin_listening", "admin API on %s%s", listen->text,
             a->token ? " (token required)" : "");
    return a;
fail:
    admin_free(a);
    return NULL;
}

int admin_fd(const struct admin *a)
{
    return a ? a->fd : -1;
}

void admin_handed_over(struct admin *a)
{
    if (!a)
        return;
    /* The successor accepts on the same socket now; requests already taken here are still
     * answered, so a client never sees its request dropped. */
    if (a->bound) {
        evhttp_del_accept_socket(a->http, a->bound);
        a->bound = NULL;
    }
    free(a->unix_path); /* the successor serves the socket file now: do not remove it */
    a->unix_path = NULL;
}

bool admin_busy(struct admin *a)
{
    uint64_t now = clock_now_ms();
    if (!a)
        return false;
    forget_closed(a);
    for (size_t i = 0; i < a->n_conns; i++)
        if (!a->conns[i].evicted && !conn_idle(&a->conns[i], now))
            return true;
    return false;
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    if (live_admin == a)
        live_admin = NULL;
    if (a->http)
        evhttp_free(a->http); /* frees its connections: our references are the last */
    a->http = NULL;
    for (size_t i = 0; i < a->n_conns; i++)
        bufferevent_decref(a->conns[i].bev);
    free(a->conns);
    if (a->resume)
        event_free(a->resume);
    if (a->unix_path) {
        unlink(a->unix_path);
        free(a->unix_path);
    }
    config_secret_free(a->token);
    free(a);
}
