/* k3lb ctl: one HTTP request (or a poll, for wait-drained) to the admin API over TCP or a unix
 * socket, and the answer printed for people (a table) or scripts (--json). Blocking I/O: it is
 * a short-lived command, not part of the daemon. */
#include "admin/ctl.h"
#include "admin/api.h"
#include "common/clock.h"
#include "common/xalloc.h"

#include "config/config.h"
#include "config/flags.h"
#include "config/keys.h"
#include "config/value.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_MAX (16 * 1024 * 1024)

static const struct config_flag ctl_flags[] = {
    {"config", 'c', CONFIG_FLAG_VALUE, NULL, NULL, "FILE",
     "take the admin address and token from this config file's admin section"},
    {"admin", 0, CONFIG_FLAG_VALUE, NULL, NULL, "ADDR",
     "admin API: unix:/path or host:port (default unix:/run/k3lb/admin.sock)"},
    {"admin-token-file", 0, CONFIG_FLAG_VALUE, NULL, NULL, "FILE",
     "file holding the admin API token"},
    {"admin-token", 0, CONFIG_FLAG_VALUE, NULL, NULL, "TOKEN",
     "admin API token (prefer the env var)"},
    {"json", 0, CONFIG_FLAG_SWITCH, NULL, NULL, NULL, "print the raw JSON"},
    {"weight", 0, CONFIG_FLAG_VALUE, NULL, NULL, "N", "add: the new server's weight",
     CONFIG_FLAG_NO_ENV},
    {"force", 0, CONFIG_FLAG_SWITCH, NULL, NULL, NULL,
     "remove: close connections now; drain, maint, weight 0: even the last usable server"},
    {"timeout", 0, CONFIG_FLAG_VALUE, NULL, NULL, "DUR",
     "give up after (wait-drained 5m, health 2s, others 10s)", CONFIG_FLAG_NO_ENV},
    {"help", 'h', CONFIG_FLAG_SWITCH, NULL, NULL, NULL, "show this help"},
};
#define N_CTL_FLAGS (sizeof(ctl_flags) / sizeof(ctl_flags[0]))

struct ctl {
    const char *admin;   /* where the API listens */
    char token[4096];    /* bearer token, "" for none */
    bool json;           /* raw output */
    uint64_t io_ms;      /* a request without an answer for this long fails */
    uint64_t timeout_ms; /* --timeout, 0 when not given */
};

struct response {
    int status; /* HTTP status, 0 when there was no answer */
    char *body; /* NUL-terminated */
};

static int usage(const char *msg)
{
    fprintf(stderr, "k3lb ctl: %s (try 'k3lb ctl --help')\n", msg);
    return 2;
}

/* A flag's bad value: the flag, the value, why. */
static int usage_flag(const char *flag, const char *value, const char *why)
{
    fprintf(stderr, "k3lb ctl: %s '%s': %s (try 'k3lb ctl --help')\n", flag, value, why);
    return 2;
}

static void help(void)
{
    printf("usage: k3lb ctl [flags] COMMAND\n\ncommands:\n");
    for (size_t i = 0; i < admin_n_routes; i++) {
        const struct admin_route *r = &admin_routes[i];
        char left[64];
        if (!r->verb)
            continue;
        snprintf(left, sizeof(left), "%s %s", r->verb, r->args);
        printf("  %-44s %s\n", left, r->help);
    }
    printf("\nflags:\n");
    config_flags_usage(ctl_flags, N_CTL_FLAGS, stdout);
}

void admin_ctl_man(FILE *out)
{
    fputs(".SH CTL COMMANDS\n\\fBk3lb ctl\\fR [\\fIflags\\fR] \\fICOMMAND\\fR talks to the "
          "admin API of a running k3lb.\n",
          out);
    for (size_t i = 0; i < admin_n_routes; i++) {
        const struct admin_route *r = &admin_routes[i];
        if (!r->verb)
            continue;
        fputs(".TP\n.B ", out);
        config_roff(out, r->verb);
        if (r->args[0]) {
            fputs("\n.I ", out);
            config_roff(out, r->args);
        }
        fputs("\n", out);
        config_roff(out, r->help);
        fputs("\n", out);
    }
    fputs(".SS ctl flags\n", out);
    config_flags_usage_roff(ctl_flags, N_CTL_FLAGS, out);
}

void admin_ctl_words(FILE *out)
{
    for (size_t i = 0; i < admin_n_routes; i++)
        if (admin_routes[i].verb && (i == 0 || !admin_routes[i - 1].verb ||
                                     strcmp(admin_routes[i - 1].verb, admin_routes[i].verb) != 0))
            fprintf(out, "%s ", admin_routes[i].verb);
    for (size_t i = 0; i < N_CTL_FLAGS; i++)
        fprintf(out, "--%s ", ctl_flags[i].name);
}

/* A daemon that is stopped (SIGSTOP) or stuck must fail the request, not hang its caller
 * (keepalived's check script, a deploy script). */
static void set_io_timeout(int fd, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
}

static int connect_admin(const char *admin, uint64_t io_ms)
{
    struct net_addr a;
    char why[256];
    int fd = -1;

    if (!config_parse_addr(admin, CONFIG_ADDR_ADMIN, &a, why, sizeof(why)) ||
        (!a.path && !a.host)) {
        fprintf(stderr, "k3lb ctl: --admin %s: %s\n", admin,
                a.path || a.host ? why : "needs a host");
        return -1;
    }
    if (a.kind == NET_ADDR_UNIX) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", a.path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0)
            set_io_timeout(fd, io_ms);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            close(fd);
            fd = -1;
        }
    } else {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        char port[8];
        snprintf(port, sizeof(port), "%u", a.port);
        if (getaddrinfo(a.host, port, &hints, &res) == 0) {
            fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0)
                set_io_timeout(fd, io_ms);
            if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
                close(fd);
                fd = -1;
            }
            freeaddrinfo(res);
        }
    }
    if (fd < 0)
        fprintf(stderr, "k3lb ctl: cannot reach the admin API at %s: %s\n", admin, strerror(errno));
    config_addr_free(&a);
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static struct response request(const struct ctl *c, const char *method, const char *path,
                               const char *body)
{
    struct response r = {0};
    char head[8192];
    size_t cap = 65536, len = 0;
    int fd = connect_admin(c->admin, c->io_ms), n;
    char *buf;

    if (fd < 0)
        return r;
    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.0\r\nHost: k3lb\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n%s%s%s\r\n",
                 method, path, body ? strlen(body) : 0, c->token[0] ? "Authorization: Bearer " : "",
                 c->token, c->token[0] ? "\r\n" : "");
    buf = xmalloc(cap);
    ssize_t got = -1;
    if (send_all(fd, head, (size_t)n) == 0 && (!body || send_all(fd, body, strlen(body)) == 0)) {
        while ((got = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
            len += (size_t)got;
            if (len + 1 == cap && cap < RESPONSE_MAX) {
                cap *= 2;
                buf = xreallocarray(buf, cap, 1);
            }
        }
    }
    bool timed_out = got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    close(fd);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (timed_out) {
        fprintf(stderr, "k3lb ctl: no answer from %s within %llu ms\n", c->admin,
                (unsigned long long)c->io_ms);
    } else if (sep && sscanf(buf, "HTTP/%*d.%*d %d", &r.status) == 1) {
        r.body = xstrdup(sep + 4);
    } else {
        fprintf(stderr, "k3lb ctl: no HTTP answer from %s\n", c->admin);
    }
    free(buf);
    return r;
}

/* Prints an API error ({"error", "hint", "errors"}) and returns 1. */
static int report_error(const struct response *r)
{
    cJSON *doc = cJSON_Parse(r->body), *e = cJSON_GetObjectItem(doc, "error"),
          *h = cJSON_GetObjectItem(doc, "hint"), *list = cJSON_GetObjectItem(doc, "errors"), *it;
    fprintf(stderr, "k3lb ctl: %s (HTTP %d)\n", cJSON_IsString(e) ? e->valuestring : r->body,
            r->status);
    cJSON_ArrayForEach(it, list)
    {
        if (cJSON_IsString(it))
            fprintf(stderr, "  %s\n", it->valuestring);
    }
    if (cJSON_IsString(h))
        fprintf(stderr, "hint: %s\n", h->valuestring);
    cJSON_Delete(doc);
    return 1;
}

static int simple(const struct ctl *c, const char *method, const char *path, const char *body)
{
    struct response r = request(c, method, path, body);
    int rc = 1;
    if (r.status >= 200 && r.status < 300) {
        cJSON *doc = cJSON_Parse(r.body), *res = cJSON_GetObjectItem(doc, "result");
        if (c->json)
            printf("%s", r.body);
        else
            printf("%s\n", cJSON_IsString(res) ? res->valuestring : "ok");
        cJSON_Delete(doc);
        rc = 0;
    } else if (r.status) {
        rc = report_error(&r);
    }
    free(r.body);
    return rc;
}

static const char *str(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int status(const struct ctl *c)
{
    struct response r = request(c, "GET", "/status", NULL);
    cJSON *doc, *b, *s;
    if (r.status != 200) {
        int rc = r.status ? report_error(&r) : 1;
        free(r.body);
        return rc;
    }
    if (c->json) {
        printf("%s", r.body);
        free(r.body);
        return 0;
    }
    doc = cJSON_Parse(r.body);
    printf("%-12s %-24s %-10s %7s %7s  %s\n", "BACKEND", "SERVER", "STATE", "ACTIVE", "TOTAL",
           "CHECK");
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(doc, "backends"))
    {
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(b, "servers"))
        {
            cJSON *chk = cJSON_GetObjectItem(s, "check");
            const char *waiting =
                chk ? cJSON_GetStringValue(cJSON_GetObjectItem(chk, "waiting_for")) : NULL;
            printf("%-12s %-24s %-10s %7.0f %7.0f  %s%s%s%s%s%s\n", str(b, "name"),
                   str(s, "address"), str(s, "state"), num(s, "connections_active"),
                   num(s, "connections_total"), chk ? str(chk, "result") : "-", chk ? ": " : "",
                   chk ? str(chk, "detail") : "", waiting ? " (down until " : "",
                   waiting ? waiting : "", waiting ? " is up)" : "");
        }
        printf("%-12s %.0f of %d servers usable%s\n", str(b, "name"), num(b, "servers_usable"),
               cJSON_GetArraySize(cJSON_GetObjectItem(b, "servers")),
               num(b, "servers_usable") ? "" : ": new clients find none");
    }
    cJSON_Delete(doc);
    free(r.body);
    return 0;
}

static int wait_drained(const struct ctl *c, const char *backend, const char *server,
                        uint64_t timeout_ms)
{
    uint64_t start = clock_now_ms();
    for (;;) {
        struct response r = request(c, "GET", "/status", NULL);
        cJSON *doc = r.status == 200 ? cJSON_Parse(r.body) : NULL, *b, *s;
        double active = -1;
        if (!doc) {
            int rc = r.status ? report_error(&r) : 1;
            free(r.body);
            return rc;
        }
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(doc, "backends"))
        {
            if (strcmp(str(b, "name"), backend) != 0)
                continue;
            active = 0; /* the server gone from the backend counts as drained */
            cJSON_ArrayForEach(s, cJSON_GetObjectItem(b, "servers"))
            {
                if (strcmp(str(s, "address"), server) == 0)
                    active = num(s, "connections_active");
            }
        }
        cJSON_Delete(doc);
        free(r.body);
        if (active < 0) {
            fprintf(stderr, "k3lb ctl: no backend '%s'\n", backend);
            return 1;
        }
        if (active == 0) {
            printf("%s/%s has no connection left\n", backend, server);
            return 0;
        }
        uint64_t waited = clock_now_ms() - start;
        if (waited >= timeout_ms) {
            fprintf(stderr, "k3lb ctl: %s/%s still has %.0f connection%s after the timeout\n",
                    backend, server, active, active == 1 ? "" : "s");
            return 1;
        }
        usleep(200 * 1000); /* polling the API: there is no event to wait on from outside */
    }
}

static int load_token(struct ctl *c, const char *token, const char *file)
{
    if (token) {
        snprintf(c->token, sizeof(c->token), "%s", token);
    } else if (file) {
        FILE *f = fopen(file, "r");
        size_t n;
        if (!f) {
            fprintf(stderr, "k3lb ctl: cannot read %s: %s\n", file, strerror(errno));
            return -1;
        }
        n = fread(c->token, 1, sizeof(c->token) - 1, f);
        fclose(f);
        c->token[n] = '\0';
        while (n && (c->token[n - 1] == '\n' || c->token[n - 1] == '\r'))
            c->token[--n] = '\0';
    }
    return 0;
}

/* -c FILE: the admin address and token of the k3lb serving that file (what systemd's
 * ExecReload knows), where --admin and the token flags do not say otherwise. A file that does
 * not load is reported as serve would report it, and nothing is sent. */
static int from_config(struct ctl *c, const char *path, bool want_token, char *admin, size_t len)
{
    struct config_errors errs = {.lenient_secrets = true};
    struct config *cfg = config_build(path, NULL, NULL, 0, &errs);
    int rc = 0;
    if (!cfg) {
        config_errors_print(&errs, stderr);
        config_errors_free(&errs);
        fprintf(stderr,
                "k3lb ctl: %s does not load: nothing sent; a running k3lb keeps its "
                "config\n",
                path);
        return 1;
    }
    config_errors_free(&errs);
    if (!config_admin_on(&cfg->admin)) {
        fprintf(stderr, "k3lb ctl: %s has no admin listener (admin.listen: off)\n", path);
        rc = 1;
    } else if (!c->admin) {
        const struct net_addr *l = &cfg->admin.listen;
        if (l->kind == NET_ADDR_INET && !l->host) /* ":port", every address: ask loopback */
            snprintf(admin, len, "127.0.0.1:%u", (unsigned)l->port);
        else
            snprintf(admin, len, "%s", l->text);
        c->admin = admin;
    }
    if (!rc && want_token && cfg->admin.token_file)
        rc = load_token(c, NULL, cfg->admin.token_file) < 0 ? 1 : 0;
    else if (!rc && want_token && cfg->admin.token_env && getenv(cfg->admin.token_env))
        rc = load_token(c, getenv(cfg->admin.token_env), NULL);
    config_unref(cfg);
    return rc;
}

/* The verb's row of the route table, or NULL. */
static const struct admin_route *verb_route(const char *verb)
{
    for (size_t i = 0; i < admin_n_routes; i++)
        if (admin_routes[i].verb && strcmp(admin_routes[i].verb, verb) == 0)
            return &admin_routes[i];
    return NULL;
}

/* How many positional arguments a verb takes: the words of its args before any "[--flag]";
 * -1 for "ADDRESS..." or "[FRONTEND...]" (any number). */
static int verb_arity(const struct admin_route *r)
{
    int n = 0;
    if (strstr(r->args, "..."))
        return -1;
    for (const char *p = r->args; *p && *p != '[';) {
        n++;
        p += strcspn(p, " ");
        p += strspn(p, " ");
    }
    return n;
}

/* The request body a verb sends, or NULL for none; *rc is set on a usage error. */
static char *verb_body(const struct admin_route *r, const char **pos, size_t n,
                       const struct config_flag_value *v, int *rc)
{
    cJSON *o = NULL;
    uint64_t weight = 1;
    char why[256], *text;
    const char *w = r->op == ADMIN_OP_ADD ? config_flag_get(ctl_flags, N_CTL_FLAGS, v, "weight")
                    : strcmp(r->verb, "weight") == 0 ? pos[3]
                                                     : NULL;
    *rc = 0;
    if (w && !config_parse_uint(w, 0, 256, false, &weight, why, sizeof(why))) {
        *rc = usage(why);
        return NULL;
    }
    if (r->op == ADMIN_OP_SERVERS) {
        o = cJSON_CreateArray();
        for (size_t i = 1; i < n; i++)
            cJSON_AddItemToArray(o, cJSON_CreateString(pos[i]));
    } else if (r->op == ADMIN_OP_ADD) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "address", pos[2]);
        cJSON_AddNumberToObject(o, "weight", (double)weight);
    } else if (r->op == ADMIN_OP_SET) {
        o = cJSON_CreateObject();
        if (strcmp(r->verb, "weight") == 0)
            cJSON_AddNumberToObject(o, "weight", (double)weight);
        else
            cJSON_AddStringToObject(o, "state", r->verb);
    }
    if (!o)
        return NULL;
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static int dispatch(struct ctl *c, const char **pos, size_t n, const struct config_flag_value *v)
{
    const struct admin_route *r = verb_route(pos[0]);
    char path[1024], why[256];
    bool wait;
    int arity, rc;

    if (!r)
        return usage("unknown command");
    arity = verb_arity(r);
    if (arity >= 0 && n - 1 != (size_t)arity) {
        snprintf(why, sizeof(why), "%s takes %s", r->verb, r->args[0] ? r->args : "no arguments");
        return usage(why);
    }
    wait = strcmp(r->verb, "wait-drained") == 0; /* --timeout bounds the wait, not a request */
    c->io_ms = c->timeout_ms && !wait ? c->timeout_ms : r->op == ADMIN_OP_HEALTH ? 2000 : 10000;
    if (strcmp(r->verb, "status") == 0)
        return status(c);
    if (wait)
        return wait_drained(c, pos[1], pos[2], c->timeout_ms ? c->timeout_ms : 300000);
    if (!admin_route_path(r, n > 1 ? pos[1] : "", n > 2 ? pos[2] : "", path, sizeof(path)))
        return usage("backend or server name too long");
    if ((r->op == ADMIN_OP_REMOVE || r->op == ADMIN_OP_SET) &&
        config_flag_get(ctl_flags, N_CTL_FLAGS, v, "force") &&
        !admin_query_append(path, sizeof(path), "force", "true"))
        return usage("backend or server name too long");
    for (size_t i = 1; r->op == ADMIN_OP_HEALTH && i < n; i++)
        if (!admin_query_append(path, sizeof(path), "frontend", pos[i]))
            return usage("frontend names too long");
    char *body = verb_body(r, pos, n, v, &rc);
    if (rc)
        return rc;
    rc = simple(c, r->method, path, body);
    free(body);
    return rc;
}

static int run(struct ctl *c, const char **pos, size_t n_pos, struct config_flag_value *vals)
{
    const char *token = config_flag_get(ctl_flags, N_CTL_FLAGS, vals, "admin-token");
    const char *token_file = config_flag_get(ctl_flags, N_CTL_FLAGS, vals, "admin-token-file");
    const char *file = config_flag_get(ctl_flags, N_CTL_FLAGS, vals, "config");
    const char *t = config_flag_get(ctl_flags, N_CTL_FLAGS, vals, "timeout");
    char admin[512], err[256];

    c->admin = config_flag_get(ctl_flags, N_CTL_FLAGS, vals, "admin");
    c->json = config_flag_get(ctl_flags, N_CTL_FLAGS, vals, "json") != NULL;
    if (t && !config_parse_duration(t, &c->timeout_ms, err, sizeof(err)))
        return usage_flag("--timeout", t, err);
    if (t && !c->timeout_ms)
        return usage_flag("--timeout", t, "must be more than 0, e.g. 5s");
    if (load_token(c, token, token_file) < 0)
        return 1;
    if (file && from_config(c, file, !token && !token_file, admin, sizeof(admin)))
        return 1;
    if (!c->admin)
        c->admin = "unix:/run/k3lb/admin.sock";
    return dispatch(c, pos, n_pos, vals);
}

int admin_ctl(int argc, char **argv)
{
    struct config_flag_value vals[N_CTL_FLAGS] = {0};
    struct ctl c = {0};
    const char *pos[64];
    size_t n_pos = 0;
    char err[256];
    int rc;

    if (!config_flags_parse(ctl_flags, N_CTL_FLAGS, argc, argv, vals, pos, &n_pos, 64, err,
                            sizeof(err))) {
        rc = usage(err);
    } else if (config_flag_get(ctl_flags, N_CTL_FLAGS, vals, "help")) {
        help();
        rc = 0;
    } else if (n_pos == 0) {
        rc = usage("needs a command");
    } else {
        rc = run(&c, pos, n_pos, vals);
    }
    config_flags_free(vals, N_CTL_FLAGS);
    return rc;
}
