/* Single-value parsers. Strict on purpose: a value that is almost right ("3 s", "1.2.3.4:99999")
 * is an error with a reason, never guessed at. */
#include "config/value.h"
#include "common/xalloc.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DURATION_MAX_MS (366ULL * 24 * 3600 * 1000) /* one year: beyond any sane timeout */

static const struct {
    const char *name;
    uint64_t ms;
} duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

static bool fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return false;
}

#define MICRO 1000000ULL

/* Reads "<digits>[.<digits>]" in millionths. *exact is cleared when digits were dropped. */
static const char *read_micro(const char *p, uint64_t *out, bool *exact)
{
    uint64_t whole = 0, frac = 0, scale = MICRO;
    const char *start = p;
    while (isdigit((unsigned char)*p)) {
        whole = whole * 10 + (uint64_t)(*p++ - '0');
        if (whole > DURATION_MAX_MS)
            return NULL;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        for (; isdigit((unsigned char)*p); p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            } else if (*p != '0') {
                *exact = false;
            }
        }
    }
    if (p == start)
        return NULL;
    *out = whole * MICRO + frac;
    return p;
}

bool config_parse_duration(const char *s, uint64_t *ms, char *why, size_t whylen)
{
    uint64_t total = 0;
    const char *p = s;

    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return true;
    }
    if (!*s)
        return fail(why, whylen, "empty duration");
    while (*p) {
        uint64_t micro, unit = 0;
        bool exact = true;
        const char *q = read_micro(p, &micro, &exact);
        size_t ulen = 0;
        if (!q)
            return fail(why, whylen, "bad duration '%s': expected a number and a unit, e.g. 3s", s);
        while (isalpha((unsigned char)q[ulen]))
            ulen++;
        for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++)
            if (strlen(duration_units[i].name) == ulen &&
                strncmp(q, duration_units[i].name, ulen) == 0)
                unit = duration_units[i].ms;
        if (!unit)
            return fail(why, whylen,
                        "bad duration '%s': each number needs a unit: ms, s, m, h or d", s);
        if (micro > DURATION_MAX_MS * MICRO / unit)
            return fail(why, whylen, "duration '%s' is longer than a year", s);
        if (!exact || micro * unit % MICRO)
            return fail(why, whylen, "duration '%s' is finer than a millisecond", s);
        total += micro * unit / MICRO;
        if (total > DURATION_MAX_MS)
            return fail(why, whylen, "duration '%s' is longer than a year", s);
        p = q + ulen;
    }
    *ms = total;
    return true;
}

void config_format_duration(uint64_t ms, char *buf, size_t len)
{
    size_t n = 0;
    if (ms == 0) {
        snprintf(buf, len, "0");
        return;
    }
    buf[0] = '\0';
    for (int i = 4; i >= 0 && n < len; i--) {
        uint64_t u = duration_units[i].ms;
        if (ms >= u) {
            n += (size_t)snprintf(buf + n, len - n, "%llu%s", (unsigned long long)(ms / u),
                                  duration_units[i].name);
            ms %= u;
        }
    }
}

static bool valid_hostname(const char *h)
{
    size_t len = strlen(h), label = 0;
    if (len == 0 || len > 253)
        return false;
    for (const char *p = h; *p; p++) {
        if (*p == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return h[0] != '-';
}

static bool parse_port(const char *p, uint16_t *port, const char *s, char *why, size_t whylen)
{
    char *end;
    long v;
    if (!*p)
        return fail(why, whylen, "address '%s' has no port after ':'", s);
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return fail(why, whylen, "address '%s': port is not a number", s);
    errno = 0;
    v = strtol(p, &end, 10);
    if (errno || v < 1 || v > 65535)
        return fail(why, whylen, "address '%s': port must be 1..65535", s);
    *port = (uint16_t)v;
    return true;
}

static bool parse_unix(const char *s, enum config_addr_use use, struct net_addr *out, char *why,
                       size_t whylen)
{
    const char *path = s + 5;
    if (use != CONFIG_ADDR_ADMIN)
        return fail(why, whylen, "address '%s': unix sockets are only for the admin listener", s);
    if (path[0] != '/')
        return fail(why, whylen, "address '%s': unix socket path must be absolute", s);
    if (strlen(path) >= 108)
        return fail(why, whylen, "address '%s': unix socket path longer than 107 bytes", s);
    out->kind = NET_ADDR_UNIX;
    out->path = xstrdup(path);
    out->text = xstrdup(s);
    return true;
}

bool config_parse_addr(const char *s, enum config_addr_use use, struct net_addr *out, char *why,
                       size_t whylen)
{
    const char *colon;
    char *host = NULL;
    struct in6_addr a6;

    memset(out, 0, sizeof(*out));
    if (strncmp(s, "unix:", 5) == 0)
        return parse_unix(s, use, out, why, whylen);
    if (strstr(s, "://"))
        return fail(why, whylen, "address '%s': write host:port without a scheme", s);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return fail(why, whylen, "address '%s': missing ']'", s);
        if (close[1] != ':')
            return fail(why, whylen, "address '%s': expected ':port' after ']'", s);
        host = xstrndup(s + 1, (size_t)(close - s - 1));
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            free(host);
            return fail(why, whylen, "address '%s': not an IPv6 address inside [ ]", s);
        }
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return fail(why, whylen, "address '%s' has no port: write host:port", s);
        if (memchr(s, ':', (size_t)(colon - s)))
            return fail(why, whylen, "address '%s': IPv6 addresses need brackets, e.g. [::1]:6443",
                        s);
        if (colon > s) {
            host = xstrndup(s, (size_t)(colon - s));
            struct in_addr a4;
            if (strspn(host, "0123456789.") == strlen(host) && inet_pton(AF_INET, host, &a4) != 1) {
                /* all digits and dots: meant as an IPv4 address, and not one (10.0.0.300) */
                free(host);
                return fail(why, whylen, "address '%s': not a valid IPv4 address", s);
            }
            if (!valid_hostname(host)) {
                free(host);
                return fail(why, whylen, "address '%s': not a valid host name or IPv4 address", s);
            }
        }
    }
    if (!parse_port(colon + 1, &out->port, s, why, whylen)) {
        free(host);
        return false;
    }
    if (!host && use == CONFIG_ADDR_TARGET)
        return fail(why, whylen, "address '%s' needs a host before ':'", s);
    out->kind = NET_ADDR_INET;
    out->host = host;
    out->text = xstrdup(s);
    return true;
}

void config_addr_free(struct net_addr *a)
{
    free(a->text);
    free(a->host);
    free(a->path);
    memset(a, 0, sizeof(*a));
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void config_addr_copy(struct net_addr *dst, const struct net_addr *src)
{
    *dst = *src;
    dst->text = dup_or_null(src->text);
    dst->host = dup_or_null(src->host);
    dst->path = dup_or_null(src->path);
}

void config_addr_with_port(const char *addr, unsigned port, char *out, size_t len)
{
    const char *colon = strrchr(addr, ':');
    snprintf(out, len, "%.*s:%u", colon ? (int)(colon - addr) : (int)strlen(addr), addr, port);
}

static bool is_wildcard(const char *host);

bool config_addr_is_wildcard(const struct net_addr *a)
{
    return a->kind == NET_ADDR_INET && is_wildcard(a->host);
}

static bool is_wildcard(const char *host)
{
    return !host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

bool config_addr_overlap(const struct net_addr *a, const struct net_addr *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == NET_ADDR_UNIX)
        return strcmp(a->path, b->path) == 0;
    if (a->port != b->port)
        return false;
    if (is_wildcard(a->host) || is_wildcard(b->host))
        return true;
    return strcasecmp(a->host, b->host) == 0;
}

bool config_parse_uint(const char *s, uint64_t min, uint64_t max, bool sizes, uint64_t *out,
                       char *why, size_t whylen)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;

    if (!isdigit((unsigned char)s[0]))
        return fail(why, whylen, "'%s' is not a whole number", s);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (sizes && *end) {
        switch (tolower((unsigned char)*end)) {
        case 'k':
            mult = 1024;
            break;
        case 'm':
            mult = 1024 * 1024;
            break;
        case 'g':
            mult = 1024 * 1024 * 1024;
            break;
        default:
            return fail(why, whylen, "'%s': size suffix must be k, m or g", s);
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
    }
    if (*end)
        return fail(why, whylen, "'%s' is not a whole number", s);
    if (errno || v > UINT64_MAX / mult || v * mult < min || v * mult > max) {
        snprintf(why, whylen, "%s is out of range %llu..%llu", s, (unsigned long long)min,
                 (unsigned long long)max);
        return false;
    }
    *out = v * mult;
    return true;
}

bool config_parse_bool(const char *s, bool *out, char *why, size_t whylen)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return fail(why, whylen, "'%s' is not a boolean: use true or false", s);
}

int config_parse_enum(const char *s, const char *const *names, char *why, size_t whylen)
{
    size_t n = 0;
    const char *close;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    n = (size_t)snprintf(why, whylen, "unknown value '%s'", s);
    close = config_closest(s, names);
    if (close && n < whylen)
        n += (size_t)snprintf(why + n, whylen - n, " (did you mean '%s'?)", close);
    for (int i = 0; names[i] && n < whylen; i++)
        n += (size_t)snprintf(why + n, whylen - n, "%s%s", i ? ", " : ": expected one of ",
                              names[i]);
    return -1;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64], prev;
    if (la >= 63 || lb >= 63)
        return 64;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub =
                prev + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

const char *config_closest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, limit = strlen(word) / 3 + 1;
    if (limit > 3)
        limit = 3;
    for (int i = 0; candidates[i]; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

bool config_hostport_default(const char *p, size_t n, unsigned default_port, char *out,
                             size_t outlen, char *why, size_t whylen)
{
    struct net_addr a;
    char hostport[NET_ADDRSTRLEN];
    if (n == 0 || n >= sizeof(hostport) - 6)
        return fail(why, whylen, "'%.*s' has no host", (int)(n > 64 ? 64 : n), p);
    memcpy(hostport, p, n);
    hostport[n] = '\0';
    /* No port: a bracketed IPv6 ends with ']', anything else has no ':'. */
    if (hostport[n - 1] == ']' || !strchr(hostport, ':'))
        snprintf(hostport + n, sizeof(hostport) - n, ":%u", default_port);
    if (!config_parse_addr(hostport, CONFIG_ADDR_TARGET, &a, why, whylen))
        return false;
    snprintf(out, outlen, "%s", a.text);
    config_addr_free(&a);
    return true;
}

/* The host[:port] part of a URL after its scheme, up to a path, with default_port added when
 * it has none, normalised into out. */
static bool url_hostport(const char *s, const char *p, unsigned default_port, char *out,
                         size_t outlen, char *why, size_t whylen)
{
    const char *end = p + strcspn(p, "/?#");
    if (*end && strcmp(end, "/") != 0)
        return fail(why, whylen, "URL '%s' must not have a path", s);
    if (end == p || end - p >= NET_ADDRSTRLEN - 6)
        return fail(why, whylen, "URL '%s' has no host", s);
    return config_hostport_default(p, (size_t)(end - p), default_port, out, outlen, why, whylen);
}

/* An https:// URL without a port means 443, as K3s's agent balancer reads its --server
 * (k3s-io/k3s pkg/agent/loadbalancer/loadbalancer.go:61-74 at 866d743e); a bare host is
 * k3lb's shorthand for the usual 6443. */
bool config_parse_server_url(const char *s, char *out, size_t outlen, char *why, size_t whylen)
{
    const char *p = s;
    if (strncmp(p, "https://", 8) == 0)
        return url_hostport(s, p + 8, 443, out, outlen, why, whylen);
    if (strstr(p, "://"))
        return fail(why, whylen, "server URL '%s' must use https://", s);
    return url_hostport(s, p, 6443, out, outlen, why, whylen);
}

/* %XX escapes of a URL's user information, decoded into out (NUL-terminated). */
static bool percent_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (o + 1 >= outlen)
            return false;
        if (s[i] == '%') {
            if (i + 2 >= n || sscanf(s + i + 1, "%2x", &v) != 1 ||
                !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
                return false;
            out[o++] = (char)v;
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return true;
}

char *config_auth_basic(const char *creds, size_t n)
{
    char *out = xmalloc(6 + 4 * (n + 2) / 3 + 1);
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)creds, (int)n);
    return out;
}

bool config_parse_proxy_url(const char *s, char *hostport, size_t len, char **auth, char *why,
                            size_t whylen)
{
    const char *p = s, *at;
    *auth = NULL;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strstr(p, "://")) /* the scheme only: the rest may hold a password */
        return fail(why, whylen,
                    "proxy URL: only http:// proxies (CONNECT over plain HTTP) are supported, not "
                    "%.*s://",
                    (int)(strstr(p, "://") - p > 16 ? 16 : strstr(p, "://") - p), p);
    at = strchr(p, '@');
    if (at && at < p + strcspn(p, "/?#")) {
        char userinfo[512];
        size_t n = (size_t)(at - p);
        if (!percent_decode(p, n, userinfo, sizeof(userinfo)) || !strchr(userinfo, ':'))
            return fail(why, whylen, "proxy URL: the credentials before '@' must be user:password");
        *auth = config_auth_basic(userinfo, strlen(userinfo));
        OPENSSL_cleanse(userinfo, sizeof(userinfo));
        p = at + 1;
    }
    if (!url_hostport(p, p, 80, hostport, len, why, whylen)) { /* quoted without credentials */
        free(*auth);
        *auth = NULL;
        return false;
    }
    return true;
}

/* One NO_PROXY entry against a host (lowercase, no brackets) and port, as Go's
 * golang.org/x/net/http/httpproxy reads them (which K3s uses): an IP or CIDR matches the
 * address; "example.com" and ".example.com" (or "*.example.com") match the name and every name
 * under it; "host:port" matches that port only. */
static bool no_proxy_entry(const char *entry, const char *host, unsigned port)
{
    char e[256], *colon;
    unsigned char net[16], ip[16];
    int bits = -1, fam = strchr(host, ':') ? AF_INET6 : AF_INET;
    snprintf(e, sizeof(e), "%s", entry);
    for (char *c = e; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    char *slash = strchr(e, '/');
    if (slash) { /* CIDR */
        *slash = '\0';
        bits = atoi(slash + 1);
        if (inet_pton(fam, e, net) != 1 || inet_pton(fam, host, ip) != 1)
            return false;
        int max = fam == AF_INET ? 32 : 128;
        if (bits < 0 || bits > max)
            return false;
        for (int i = 0; i < bits; i++)
            if (((net[i / 8] ^ ip[i / 8]) >> (7 - i % 8)) & 1)
                return false;
        return true;
    }
    if (e[0] == '[') { /* [v6]:port */
        char *close = strchr(e, ']');
        if (!close)
            return false;
        if (close[1] == ':' && (unsigned)atoi(close + 2) != port)
            return false;
        *close = '\0';
        return strcmp(e + 1, host) == 0;
    }
    colon = strchr(e, ':');
    if (colon && !strchr(colon + 1, ':')) { /* name:port or v4:port; a bare v6 has more */
        if ((unsigned)atoi(colon + 1) != port)
            return false;
        *colon = '\0';
    }
    const char *name = e[0] == '*' && e[1] == '.' ? e + 1 : e;
    size_t hl = strlen(host), nl = strlen(name);
    if (name[0] == '.')
        return (hl > nl && strcmp(host + hl - nl, name) == 0) || strcmp(host, name + 1) == 0;
    return strcmp(host, name) == 0 ||
           (hl > nl && strcmp(host + hl - nl, name) == 0 && host[hl - nl - 1] == '.');
}

bool config_loopback_literal(const char *h)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (h && inet_pton(AF_INET, h, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return h && inet_pton(AF_INET6, h, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool config_no_proxy(const char *no_proxy, const char *host, unsigned port)
{
    char h[256], list[4096], *save = NULL;
    snprintf(h, sizeof(h), "%s", host);
    for (char *c = h; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    /* Go never sends a loopback destination to a proxy. */
    if (strcmp(h, "localhost") == 0 || config_loopback_literal(h))
        return true;
    if (!no_proxy)
        return false;
    snprintf(list, sizeof(list), "%s", no_proxy);
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t n = strlen(tok);
        while (n && tok[n - 1] == ' ')
            tok[--n] = '\0';
        if (strcmp(tok, "*") == 0 || (n && no_proxy_entry(tok, h, port)))
            return true;
    }
    return false;
}
