/* Single-value parsers. Strict on purpose: a value that is almost right ("3 s", "1.2.3.4:99999")
 * is an error with a reason, never guessed at. */
#include "config/value.h"
#include "common/xalloc.h"

#include <arpa/inet.h>
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

bool config_parse_server_url(const char *s, char *out, size_t outlen, char *why, size_t whylen)
{
    const char *p = s, *end;
    struct net_addr a;
    char hostport[NET_ADDRSTRLEN];
    size_t n;

    if (strncmp(p, "https://", 8) == 0)
        p += 8;
    else if (strstr(p, "://"))
        return fail(why, whylen, "server URL '%s' must use https://", s);
    end = p + strcspn(p, "/?#");
    if (*end && strcmp(end, "/") != 0)
        return fail(why, whylen, "server URL '%s' must not have a path", s);
    n = (size_t)(end - p);
    if (n == 0 || n >= sizeof(hostport) - 6)
        return fail(why, whylen, "server URL '%s' has no host", s);
    memcpy(hostport, p, n);
    hostport[n] = '\0';
    /* No port: a bracketed IPv6 ends with ']', anything else has no ':'. */
    if (hostport[n - 1] == ']' || !strchr(hostport, ':'))
        snprintf(hostport + n, sizeof(hostport) - n, ":6443");
    if (!config_parse_addr(hostport, CONFIG_ADDR_TARGET, &a, why, whylen))
        return false;
    snprintf(out, outlen, "%s", a.text);
    config_addr_free(&a);
    return true;
}
