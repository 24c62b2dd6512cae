/* PROXY protocol v1 and v2 headers, read strictly and written exactly: a load balancer that
 * accepts a sloppy header lets any client choose the address the next hop sees. */
#include "common/proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define V1_MAX 107 /* the longest v1 line, CRLF included */

static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static enum proxyproto_status bad(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return PROXYPROTO_BAD;
}

/* ---- version 1: one text line --------------------------------------------------------------- */

/* A port: 1 to 5 digits, no leading zero (but "0"), at most 65535. */
static bool v1_port(const char *s, uint16_t *out)
{
    unsigned long v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

static bool v1_addr(int family, const char *ip, const char *port, struct sockaddr_storage *ss)
{
    uint16_t p;
    memset(ss, 0, sizeof(*ss));
    if (!v1_port(port, &p))
        return false;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(p);
        return inet_pton(AF_INET, ip, &in->sin_addr) == 1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(p);
    return inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1;
}

/* line: the header without its CRLF, NUL-terminated, in a writable copy. */
static enum proxyproto_status v1_line(char *line, struct proxyproto_addrs *out, char *err,
                                      size_t errlen)
{
    char *tok[7];
    size_t n = 0;
    int family;

    if (strncmp(line, "PROXY UNKNOWN", 13) == 0 && (line[13] == '\0' || line[13] == ' ')) {
        out->has = false; /* what follows UNKNOWN is to be ignored */
        return PROXYPROTO_DONE;
    }
    for (char *s = line;; s++) { /* single spaces between tokens, none at either end */
        tok[n++] = s;
        s = strchr(s, ' ');
        if (s == tok[n - 1] || (!s && !*tok[n - 1]))
            return bad(err, errlen, "v1: an empty field (two spaces, or one at the end)");
        if (!s)
            break;
        *s = '\0';
        if (n == 6)
            return bad(err, errlen, "v1: more than six fields");
    }
    if (n < 2 || (strcmp(tok[1], "TCP4") != 0 && strcmp(tok[1], "TCP6") != 0))
        return bad(err, errlen, "v1: the protocol must be TCP4, TCP6 or UNKNOWN");
    if (n != 6)
        return bad(err, errlen, "v1: TCP4 and TCP6 take four fields: src dst sport dport");
    family = tok[1][3] == '4' ? AF_INET : AF_INET6;
    if (!v1_addr(family, tok[2], tok[4], &out->src) || !v1_addr(family, tok[3], tok[5], &out->dst))
        return bad(err, errlen,
                   family == AF_INET ? "v1: not an IPv4 address and port (a.b.c.d, 0..65535)"
                                     : "v1: not an IPv6 address and port (0..65535)");
    out->has = true;
    return PROXYPROTO_DONE;
}

static enum proxyproto_status v1_parse(const unsigned char *buf, size_t len,
                                       struct proxyproto_addrs *out, size_t *used, char *err,
                                       size_t errlen)
{
    size_t n = len < V1_MAX ? len : V1_MAX;
    char line[V1_MAX];

    if (memcmp(buf, "PROXY ", n < 6 ? n : 6) != 0)
        return bad(err, errlen, "not a PROXY protocol header");
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\r') {
            if (i + 1 == n)
                return n == V1_MAX ? bad(err, errlen, "v1: no CRLF within 107 bytes")
                                   : PROXYPROTO_MORE;
            if (buf[i + 1] != '\n')
                return bad(err, errlen, "v1: a CR not followed by LF");
            memcpy(line, buf, i);
            line[i] = '\0';
            *used = i + 2;
            out->version = 1;
            return v1_line(line, out, err, errlen);
        }
        if (buf[i] < 0x20 || buf[i] > 0x7e)
            return bad(err, errlen, "v1: a byte that is not printable ASCII");
    }
    return n == V1_MAX ? bad(err, errlen, "v1: no CRLF within 107 bytes") : PROXYPROTO_MORE;
}

/* ---- version 2: binary ---------------------------------------------------------------------- */

/* The TLVs after the addresses must fill the rest exactly. */
static bool v2_tlvs(const unsigned char *p, size_t n)
{
    while (n) {
        size_t l;
        if (n < 3)
            return false;
        l = (size_t)p[1] << 8 | p[2];
        if (l > n - 3)
            return false;
        p += 3 + l;
        n -= 3 + l;
    }
    return true;
}

static void v2_inet(struct sockaddr_storage *ss, const unsigned char *ip, const unsigned char *port)
{
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, ip, 4);
    memcpy(&in->sin_port, port, 2);
}

static void v2_inet6(struct sockaddr_storage *ss, const unsigned char *ip,
                     const unsigned char *port)
{
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_addr, ip, 16);
    memcpy(&in6->sin6_port, port, 2);
}

/* The address block of a PROXY command; body is the len bytes after the 16-byte head. */
static enum proxyproto_status v2_addresses(unsigned fam, const unsigned char *body, size_t len,
                                           struct proxyproto_addrs *out, char *err, size_t errlen)
{
    size_t need;
    switch (fam) {
    case 0x00: /* unspecified: the sender knows no addresses */
        need = 0;
        break;
    case 0x11:
        need = 12;
        break;
    case 0x21:
        need = 36;
        break;
    case 0x31: /* unix stream: no IP to pass on; the connection's own addresses stay */
        need = 216;
        break;
    case 0x12:
    case 0x22:
    case 0x32:
        return bad(err, errlen, "v2: a datagram family on a stream connection");
    default:
        return bad(err, errlen, "v2: unknown address family or transport");
    }
    if (len < need)
        return bad(err, errlen, "v2: the length is too short for its address family");
    if (!v2_tlvs(body + need, len - need))
        return bad(err, errlen, "v2: TLVs that do not fill the header's length");
    out->has = fam == 0x11 || fam == 0x21;
    if (fam == 0x11) {
        v2_inet(&out->src, body, body + 8);
        v2_inet(&out->dst, body + 4, body + 10);
    } else if (fam == 0x21) {
        v2_inet6(&out->src, body, body + 32);
        v2_inet6(&out->dst, body + 16, body + 34);
    }
    return PROXYPROTO_DONE;
}

static enum proxyproto_status v2_parse(const unsigned char *buf, size_t len,
                                       struct proxyproto_addrs *out, size_t *used, char *err,
                                       size_t errlen)
{
    size_t body;
    if (memcmp(buf, v2_sig, len < 12 ? len : 12) != 0)
        return bad(err, errlen, "not a PROXY protocol header");
    if (len >= 13 && buf[12] >> 4 != 2)
        return bad(err, errlen, "v2: version is not 2");
    if (len >= 13 && (buf[12] & 0x0f) > 1)
        return bad(err, errlen, "v2: the command is neither LOCAL nor PROXY");
    if (len < 16)
        return PROXYPROTO_MORE;
    body = (size_t)buf[14] << 8 | buf[15];
    if (16 + body > PROXYPROTO_MAX)
        return bad(err, errlen, "v2: a header longer than 1024 bytes");
    if (len < 16 + body)
        return PROXYPROTO_MORE;
    *used = 16 + body;
    out->version = 2;
    if ((buf[12] & 0x0f) == 0) { /* LOCAL: the proxy's own connection (a health check) */
        out->has = false;
        return PROXYPROTO_DONE;
    }
    return v2_addresses(buf[13], buf + 16, body, out, err, errlen);
}

enum proxyproto_status proxyproto_parse(const unsigned char *buf, size_t len,
                                        struct proxyproto_addrs *out, size_t *used, char *err,
                                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    *used = 0;
    if (len == 0)
        return PROXYPROTO_MORE;
    if (buf[0] == 'P')
        return v1_parse(buf, len, out, used, err, errlen);
    if (buf[0] == v2_sig[0])
        return v2_parse(buf, len, out, used, err, errlen);
    return bad(err, errlen, "not a PROXY protocol header");
}

/* ---- writing -------------------------------------------------------------------------------- */

/* Copies an address for writing: an IPv4-mapped IPv6 address as IPv4 when the other one is
 * also IPv4 (or mapped), an IPv4 address as mapped IPv6 when the other one is IPv6. */
static int normalize(const struct sockaddr *a, const struct sockaddr *b, struct sockaddr_storage *o)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;
    bool b_v4 = b->sa_family == AF_INET ||
                (b->sa_family == AF_INET6 && memcmp(&b6->sin6_addr, mapped, 12) == 0);
    memset(o, 0, sizeof(*o));
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
        if (b_v4 && memcmp(&a6->sin6_addr, mapped, 12) == 0) {
            v2_inet(o, a6->sin6_addr.s6_addr + 12, (const unsigned char *)&a6->sin6_port);
            return AF_INET;
        }
        v2_inet6(o, a6->sin6_addr.s6_addr, (const unsigned char *)&a6->sin6_port);
        return AF_INET6;
    }
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
    if (b_v4) {
        v2_inet(o, (const unsigned char *)&a4->sin_addr, (const unsigned char *)&a4->sin_port);
        return AF_INET;
    }
    unsigned char ip[16];
    memcpy(ip, mapped, 12);
    memcpy(ip + 12, &a4->sin_addr, 4);
    v2_inet6(o, ip, (const unsigned char *)&a4->sin_port);
    return AF_INET6;
}

static bool is_ip(const struct sockaddr *sa)
{
    return sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

static size_t build_v1(int family, const struct sockaddr_storage *s,
                       const struct sockaddr_storage *d, unsigned char *out)
{
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    int n;
    if (!family)
        return (size_t)snprintf((char *)out, PROXYPROTO_BUILD_MAX, "PROXY UNKNOWN\r\n");
    if (family == AF_INET) {
        const struct sockaddr_in *a = (const void *)s, *b = (const void *)d;
        inet_ntop(AF_INET, &a->sin_addr, src, sizeof(src));
        inet_ntop(AF_INET, &b->sin_addr, dst, sizeof(dst));
        n = snprintf((char *)out, PROXYPROTO_BUILD_MAX, "PROXY TCP4 %s %s %u %u\r\n", src, dst,
                     ntohs(a->sin_port), ntohs(b->sin_port));
    } else {
        const struct sockaddr_in6 *a = (const void *)s, *b = (const void *)d;
        inet_ntop(AF_INET6, &a->sin6_addr, src, sizeof(src));
        inet_ntop(AF_INET6, &b->sin6_addr, dst, sizeof(dst));
        n = snprintf((char *)out, PROXYPROTO_BUILD_MAX, "PROXY TCP6 %s %s %u %u\r\n", src, dst,
                     ntohs(a->sin6_port), ntohs(b->sin6_port));
    }
    return (size_t)n;
}

static size_t build_v2(int family, const struct sockaddr_storage *s,
                       const struct sockaddr_storage *d, unsigned char *out)
{
    unsigned char *p = out + 16;
    memcpy(out, v2_sig, 12);
    out[12] = family ? 0x21 : 0x20; /* version 2, PROXY or LOCAL */
    out[13] = family == AF_INET ? 0x11 : family == AF_INET6 ? 0x21 : 0x00;
    if (family == AF_INET) {
        const struct sockaddr_in *a = (const void *)s, *b = (const void *)d;
        memcpy(p, &a->sin_addr, 4);
        memcpy(p + 4, &b->sin_addr, 4);
        memcpy(p + 8, &a->sin_port, 2);
        memcpy(p + 10, &b->sin_port, 2);
        p += 12;
    } else if (family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)s, *b = (const void *)d;
        memcpy(p, &a->sin6_addr, 16);
        memcpy(p + 16, &b->sin6_addr, 16);
        memcpy(p + 32, &a->sin6_port, 2);
        memcpy(p + 34, &b->sin6_port, 2);
        p += 36;
    }
    out[14] = (unsigned char)((size_t)(p - out - 16) >> 8);
    out[15] = (unsigned char)(p - out - 16);
    return (size_t)(p - out);
}

size_t proxyproto_build(int version, const struct sockaddr *src, const struct sockaddr *dst,
                        unsigned char *out)
{
    struct sockaddr_storage s, d;
    int family = 0;
    if (is_ip(src) && is_ip(dst)) {
        family = normalize(src, dst, &s);
        normalize(dst, src, &d);
    }
    return version == 1 ? build_v1(family, &s, &d, out) : build_v2(family, &s, &d, out);
}
