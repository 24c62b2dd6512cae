/* The admin API: each request routed by the table in api.c, the token, the handlers, JSON
 * errors. Every answer is JSON (metrics and the page excepted); an error says what went wrong
 * and, where it helps, what to do. The socket and its connections are admin/listener.c's. */
#include "admin/admin-int.h"
#include "common/xalloc.h"

#include "admin/api.h"
#include "admin/body.h"
#include "admin/healthz.h"
#include "admin/metrics.h"
#include "admin/page.h"
#include "admin/status.h"
#include "runtime/servers.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

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
            runtime_add_server(a->rt, backend, body.address, body.weight, err, sizeof(err));
        answer(req, rc, err, "added; it takes traffic once its checks pass");
        free(body.address);
    }
    free(text);
}

static void set_server(struct admin *a, struct evhttp_request *req, const char *backend,
                       const char *address, bool force)
{
    struct admin_body_set body;
    char err[256], *text;
    size_t len;
    text = body_text(req, &len);
    if (admin_body_set(text, len, &body, err, sizeof(err)) < 0)
        reply_error(req, 400, err, "{\"state\": \"drain\"} or {\"weight\": 2}");
    else
        answer(req,
               runtime_set_server(a->rt, backend, address, body.state, body.weight, force, err,
                                  sizeof(err)),
               err, "updated");
    free(text);
}

static void remove_server(struct admin *a, struct evhttp_request *req, const char *backend,
                          const char *address, bool force)
{
    char err[256];
    enum lb_api rc = runtime_remove_server(a->rt, backend, address, force, err, sizeof(err));
    answer(req, rc, err,
           rc == LB_API_ACCEPTED ? "draining; removed when its last connection ends" : "removed");
}

/* GET /status: the balancer's state, and the announcement's when there is one. */
static cJSON *status(struct admin *a)
{
    cJSON *root = admin_status_json(a->rt);
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
    admin_metrics_render(a->rt, out);
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
        set_server(a, req, args->backend, args->server, query_flag(query, "force"));
        break;
    case ADMIN_OP_REMOVE:
        remove_server(a, req, args->backend, args->server, query_flag(query, "force"));
        break;
    case ADMIN_OP_HEALTH:
        healthz(a, req, query);
        break;
    case ADMIN_OP_LIVE: /* alive is not ready: no server usable is /healthz's business */
        reply_ok(req, 200, "alive");
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

void admin_answer(struct admin *a, struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
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
