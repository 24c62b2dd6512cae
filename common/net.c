/* Socket helpers. Keeps the socket option and address-family details in one place. */
#include "common/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* numeric: a literal address only, never DNS. */
static int resolve(const struct net_addr *a, struct net_sockaddr *out, bool numeric)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0)};
    struct addrinfo *res = NULL;
    char port[8];
    int rc;

    memset(out, 0, sizeof(*out));
    if (a->kind == NET_ADDR_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->u.ss;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof(un->sun_path), "%s", a->path);
        out->len = sizeof(*un);
        return 0;
    }
    snprintf(port, sizeof(port), "%u", a->port);
    rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0)
        return rc;
    memcpy(&out->u.ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int net_resolve(const struct net_addr *a, struct net_sockaddr *out)
{
    return resolve(a, out, false);
}

int net_resolve_numeric(const struct net_addr *a, struct net_sockaddr *out)
{
    return resolve(a, out, true);
}

static bool host_has_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static int listen_unix(const struct net_addr *a, int backlog, char *why, size_t whylen)
{
    struct net_sockaddr sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    net_resolve(a, &sa);
    /* A socket file left by an earlier run is replaced; one that still answers is in use. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, &sa.u.sa, sa.len) == 0) {
        close(probe);
        errno = EADDRINUSE;
        goto fail;
    }
    if (probe >= 0)
        close(probe);
    struct stat st;
    if (lstat(a->path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        errno = EEXIST; /* never remove a file that is not a socket */
        goto fail;
    }
    unlink(a->path);
    /* Created owner-only from the start: a chmod after bind would leave a window in which any
     * local user could connect. */
    mode_t old_mask = umask(0177);
    int rc = bind(fd, &sa.u.sa, sa.len);
    umask(old_mask);
    if (rc < 0 || listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:
    snprintf(why, whylen, "%s: %s", a->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int net_listen(const struct net_addr *a, bool reuseport, int backlog, char *why, size_t whylen)
{
    struct net_sockaddr sa;
    int fd = -1, one = 1, zero = 0, rc, saved;

    if (a->kind == NET_ADDR_UNIX)
        return listen_unix(a, backlog, why, whylen);
    memset(&sa, 0, sizeof(sa));
    if (!a->host) {
        if (host_has_ipv6()) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa.u.ss;
            s6->sin6_family = AF_INET6;
            s6->sin6_addr = in6addr_any;
            s6->sin6_port = htons(a->port);
            sa.len = sizeof(*s6);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&sa.u.ss;
            s4->sin_family = AF_INET;
            s4->sin_addr.s_addr = htonl(INADDR_ANY);
            s4->sin_port = htons(a->port);
            sa.len = sizeof(*s4);
        }
    } else if ((rc = net_resolve(a, &sa)) != 0) {
        snprintf(why, whylen, "%s: cannot resolve: %s", a->text, gai_strerror(rc));
        errno = EADDRNOTAVAIL;
        return -1;
    }
    fd = socket(sa.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (sa.u.sa.sa_family == AF_INET6 && !a->host)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    /* IP_FREEBIND serves IPv6 sockets too (Linux reads it for both families). */
    if (a->freebind && setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0)
        goto fail;
    if (bind(fd, &sa.u.sa, sa.len) < 0 || listen(fd, backlog) < 0)
        goto fail;
    net_tune_listener(fd); /* accepted sockets inherit the options: no call per client */
    return fd;
fail:
    saved = errno;
    snprintf(why, whylen, "%s: %s", a->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    errno = saved;
    return -1;
}

void net_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

void net_tune_listener(int fd)
{
    /* Clients can vanish without a word (a laptop closed, a NAT forgetting the flow): probe
     * after a minute of silence. Servers are watched by health checks instead, so their
     * sockets keep the system's timings and cost two system calls, not five. */
    int idle = 60, intvl = 10, cnt = 6;
    net_tune(fd);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

void net_close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

void net_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
    char host[INET6_ADDRSTRLEN];
    (void)len;
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(buf, buflen, "%s:%u", host, ntohs(s4->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(buf, buflen, "[%s]:%u", host, ntohs(s6->sin6_port));
        break;
    }
    case AF_UNIX:
        snprintf(buf, buflen, "unix:%s", ((const struct sockaddr_un *)sa)->sun_path);
        break;
    default:
        snprintf(buf, buflen, "?");
    }
}

uint64_t net_hash(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    /* FNV alone mixes the last bytes poorly; finish with a murmur-style avalanche. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t net_addr_hash(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        return net_hash(&s4->sin_addr, sizeof(s4->sin_addr), 0);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        /* An IPv4-mapped address hashes like the IPv4 one, so dual-stack clients stay put. */
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            return net_hash(&s6->sin6_addr.s6_addr[12], 4, 0);
        return net_hash(&s6->sin6_addr, sizeof(s6->sin6_addr), 0);
    }
    return 0;
}

bool net_cidr_parse(const char *s, struct net_cidr *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    char *end;
    unsigned long bits;
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, s, n);
    host[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, host, out->addr) == 1)
        out->family = AF_INET6;
    else
        return false;
    out->bits = out->family == AF_INET ? 32 : 128;
    if (!slash)
        return true;
    if (slash[1] < '0' || slash[1] > '9')
        return false;
    bits = strtoul(slash + 1, &end, 10);
    if (*end || bits > out->bits)
        return false;
    out->bits = (unsigned)bits;
    return true;
}

bool net_cidr_match(const struct net_cidr *c, const struct sockaddr *sa)
{
    const unsigned char *a;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    sa_family_t fam = sa->sa_family;
    if (fam == AF_INET) {
        a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (fam == AF_INET6) {
        a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (c->family == AF_INET && memcmp(a, mapped, sizeof(mapped)) == 0) {
            a += 12; /* ::ffff:a.b.c.d from a dual-stack listener is a.b.c.d */
            fam = AF_INET;
        }
    } else {
        return false;
    }
    if (fam != c->family)
        return false;
    for (unsigned i = 0; i < c->bits; i++)
        if (((a[i / 8] ^ c->addr[i / 8]) >> (7 - i % 8)) & 1)
            return false;
    return true;
}
