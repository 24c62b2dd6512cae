/* The admin HTTP server: routing, limits, JSON errors. Every answer is JSON; an error carries
 * what went wrong and a hint of what to do. */
#include "admin.h"

#include "lb/log.h"
#include "lb/net.h"
#include "lb/status.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADMIN_MAX_BODY    65536
#define ADMIN_MAX_HEADERS 16384
#define ADMIN_TIMEOUT_S   10

struct admin {
    struct evhttp *http;      /* libevent's HTTP server */
    struct lb_runtime *rt;    /* what it reports on */
    struct admin_hooks hooks; /* commands offered by others; NULL members when absent */
    char *unix_path;          /* socket file to remove at exit, or NULL */
};

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

/* The request body as a NUL-terminated string (the server already bounds its size). */
static char *body_text(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *text = malloc(len + 1);
    if (!text)
        abort();
    evbuffer_copyout(in, text, len);
    text[len] = '\0';
    return text;
}

/* PUT /servers ["host:port", ...] */
static void put_servers(struct admin *a, struct evhttp_request *req)
{
    char *text = body_text(req), err[256];
    cJSON *doc = cJSON_Parse(text), *item;
    const char **list;
    size_t n = 0;

    free(text);
    if (!cJSON_IsArray(doc)) {
        reply_error(req, 400, "body must be a JSON list of \"host:port\" strings",
                    "[\"10.0.0.11:6443\", \"10.0.0.12:6443\"]");
        cJSON_Delete(doc);
        return;
    }
    list = calloc((size_t)cJSON_GetArraySize(doc) + 1, sizeof(*list));
    if (!list)
        abort();
    cJSON_ArrayForEach(item, doc)
    {
        if (!cJSON_IsString(item)) {
            reply_error(req, 400, "every entry must be a \"host:port\" string", NULL);
            goto out;
        }
        list[n++] = item->valuestring;
    }
    if (a->hooks.put_servers(a->hooks.arg, list, n, err, sizeof(err)) < 0)
        reply_error(req, 400, err, "write host:port or [v6]:port");
    else
        reply_json(req, 200, lb_status_json(a->rt));
out:
    free(list);
    cJSON_Delete(doc);
}

static void route(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evhttp_uri *parsed = evhttp_uri_parse(uri);
    const char *path = parsed ? evhttp_uri_get_path(parsed) : NULL;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);

    if (!path) {
        reply_error(req, 400, "malformed request URI", NULL);
    } else if (strcmp(path, "/status") == 0) {
        if (method != EVHTTP_REQ_GET)
            reply_error(req, 405, "method not allowed", "use GET /status");
        else
            reply_json(req, 200, lb_status_json(a->rt));
    } else if (strcmp(path, "/servers") == 0 && a->hooks.put_servers) {
        if (method != EVHTTP_REQ_PUT)
            reply_error(req, 405, "method not allowed", "use PUT /servers with a JSON list");
        else
            put_servers(a, req);
    } else {
        reply_error(req, 404, "no such endpoint", "try GET /status");
    }
    if (parsed)
        evhttp_uri_free(parsed);
}

struct admin *admin_new(struct event_base *base, const struct config_addr *listen,
                        struct lb_runtime *rt, const struct admin_hooks *hooks, char *err,
                        size_t errlen)
{
    struct admin *a = calloc(1, sizeof(*a));
    int fd;

    if (!a)
        abort();
    a->rt = rt;
    if (hooks)
        a->hooks = *hooks;
    fd = lb_net_listen(listen, false, 64, err, errlen);
    if (fd < 0)
        goto fail;
    if (listen->kind == CONFIG_ADDR_UNIX) {
        chmod(listen->path, 0600);
        a->unix_path = strdup(listen->path);
    }
    a->http = evhttp_new(base);
    if (!a->http || !evhttp_accept_socket_with_handle(a->http, fd)) {
        snprintf(err, errlen, "%s: cannot serve HTTP", listen->text);
        close(fd);
        goto fail;
    }
    evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY);
    evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS);
    evhttp_set_timeout(a->http, ADMIN_TIMEOUT_S);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(a->http, route, a);
    log_info("admin_listening", "admin API on %s", listen->text);
    return a;
fail:
    admin_free(a);
    return NULL;
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    if (a->http)
        evhttp_free(a->http);
    if (a->unix_path) {
        unlink(a->unix_path);
        free(a->unix_path);
    }
    free(a);
}
