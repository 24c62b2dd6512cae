/* Address types shared by config (as written) and sockets (as resolved). */
#ifndef K3LB_COMMON_NET_T_H
#define K3LB_COMMON_NET_T_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for any address as text, as written or formatted: a DNS name (253) or "[v6%scope]" with
 * ":port", or "unix:" and a socket path (108). */
#define NET_ADDRSTRLEN 300

/* A socket address as written in a config or on a command line; resolved elsewhere. */
enum net_addr_kind {
    NET_ADDR_INET = 0, /* host:port, [v6]:port or :port */
    NET_ADDR_UNIX,     /* unix:/path */
};

struct net_addr {
    enum net_addr_kind kind; /* inet or unix */
    char *text;              /* as written, used in logs, /status and as identity */
    char *host;              /* host name or literal; NULL for ":port" (every address) */
    uint16_t port;           /* inet port, 1..65535 */
    char *path;              /* unix socket path */
    bool freebind;           /* bind even before the address is on the host (a virtual IP) */
};

/* An IPv4 or IPv6 network: a client address matches when its first bits equal addr's. */
struct net_cidr {
    sa_family_t family;     /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network address, 4 or 16 bytes used */
    unsigned bits;          /* prefix length: 0..32 or 0..128 */
};

/* A resolved address: big enough for IPv4, IPv6 and unix sockets. */
struct net_sockaddr {
    union {
        struct sockaddr sa;
        struct sockaddr_storage ss;
    } u;
    socklen_t len;
};

#endif
