/* The admin route table and the two ways a path meets it: matching a request (server side) and
 * filling one in (ctl). */
#include "admin/api.h"

#include <stdio.h>
#include <string.h>

#define SERVER_PATH "/backends/{backend}/servers/{server}"

const struct admin_route admin_routes[] = {
    {"GET", "/status", ADMIN_OP_STATUS, "status", "", "backends, servers, states, connections"},
    {"GET", "/metrics", ADMIN_OP_METRICS, NULL, "", "Prometheus text exposition"},
    {"POST", "/reload", ADMIN_OP_RELOAD, "reload", "", "re-read the config file (serve)"},
    {"PUT", "/servers", ADMIN_OP_SERVERS, "servers", "ADDRESS...",
     "set the learned server list (agent)"},
    {"POST", "/backends/{backend}/servers", ADMIN_OP_ADD, "add", "BACKEND ADDRESS [--weight N]",
     "add a server; it takes traffic once its checks pass"},
    {"PUT", SERVER_PATH, ADMIN_OP_SET, "drain", "BACKEND SERVER [--force]",
     "no new connections; open ones go on (--force: even the backend's last usable server)"},
    {"PUT", SERVER_PATH, ADMIN_OP_SET, "maint", "BACKEND SERVER [--force]",
     "no new connections and no probes (--force: even the last usable server)"},
    {"PUT", SERVER_PATH, ADMIN_OP_SET, "ready", "BACKEND SERVER", "back into rotation"},
    {"PUT", SERVER_PATH, ADMIN_OP_SET, "weight", "BACKEND SERVER N [--force]",
     "share of new connections, 0..256 (0 of the last usable server: --force)"},
    {"DELETE", SERVER_PATH, ADMIN_OP_REMOVE, "remove", "BACKEND SERVER [--force]",
     "drain, then remove once the last connection ends (--force: now)"},
    {"GET", "/status", ADMIN_OP_STATUS, "wait-drained", "BACKEND SERVER [--timeout DUR]",
     "wait until a server has no connection left"},
    {"GET", "/healthz", ADMIN_OP_HEALTH, "health", "[FRONTEND...]",
     "exit 0 when serving and each frontend (all by default) has a usable server", true},
    {"GET", "/livez", ADMIN_OP_LIVE, NULL, "", "200 while the process runs (a liveness probe)",
     true},
    {"GET", "/", ADMIN_OP_PAGE, NULL, "", "the stats page (HTML; its script reads /status)", true},
};
const size_t admin_n_routes = sizeof(admin_routes) / sizeof(admin_routes[0]);

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes one raw segment into out (room bytes); false when malformed, holding a NUL,
 * or too long. */
static bool decode(const char *seg, size_t slen, char *out, size_t room)
{
    size_t n = 0;
    for (size_t i = 0; i < slen; i++) {
        char c = seg[i];
        if (c == '%') {
            int hi = i + 2 < slen ? hex_value(seg[i + 1]) : -1;
            int lo = i + 2 < slen ? hex_value(seg[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return false; /* malformed, or an encoded NUL */
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n + 1 >= room)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

/* One raw path segment of a request against the pattern's; a {name} takes any non-empty one,
 * decoded (so an encoded "/" stays inside its name). */
static bool segment(const char *pat, size_t plen, const char *seg, size_t slen,
                    struct admin_path_args *args)
{
    if (plen >= 2 && pat[0] == '{') {
        if (!slen)
            return false;
        if (strncmp(pat, "{backend}", plen) == 0)
            return decode(seg, slen, args->backend, sizeof(args->backend));
        return decode(seg, slen, args->server, sizeof(args->server));
    }
    return plen == slen && memcmp(pat, seg, slen) == 0;
}

bool admin_route_match(const struct admin_route *r, const char *path, struct admin_path_args *args)
{
    const char *p = r->path;
    memset(args, 0, sizeof(*args));
    while (*p && *path) {
        if (*p++ != '/' || *path++ != '/')
            return false;
        size_t plen = strcspn(p, "/"), slen = strcspn(path, "/");
        if (!segment(p, plen, path, slen, args))
            return false;
        p += plen;
        path += slen;
    }
    return !*p && !*path;
}

/* Percent-encodes all but unreserved characters (RFC 3986), so that any name stays one path
 * segment: "/", "?", "#", "%", "[", "]" and spaces all travel safely. */
static bool encode(const char *in, char *out, size_t len, size_t *used)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~' || c == ':';
        if (*used + (plain ? 1 : 3) >= len)
            return false;
        if (plain) {
            out[(*used)++] = (char)c;
        } else {
            out[(*used)++] = '%';
            out[(*used)++] = hex[c >> 4];
            out[(*used)++] = hex[c & 15];
        }
    }
    return true;
}

bool admin_query_append(char *path, size_t len, const char *key, const char *value)
{
    size_t used = strlen(path);
    int n = snprintf(path + used, len - used, "%c%s=", strchr(path, '?') ? '&' : '?', key);
    if (n < 0 || (size_t)n >= len - used)
        return false;
    used += (size_t)n;
    if (!encode(value, path, len, &used))
        return false;
    path[used] = '\0';
    return true;
}

bool admin_route_path(const struct admin_route *r, const char *backend, const char *server,
                      char *out, size_t len)
{
    size_t used = 0;
    for (const char *p = r->path; *p;) {
        const char *value = NULL;
        if (strncmp(p, "{backend}", 9) == 0)
            value = backend, p += 9;
        else if (strncmp(p, "{server}", 8) == 0)
            value = server, p += 8;
        if (value) {
            if (!encode(value, out, len, &used))
                return false;
            continue;
        }
        if (used + 1 >= len)
            return false;
        out[used++] = *p++;
    }
    out[used] = '\0';
    return true;
}
