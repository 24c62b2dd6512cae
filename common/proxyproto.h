/* The PROXY protocol (versions 1 and 2): the header a proxy puts before a connection's bytes to
 * pass on the client's addresses. Pure functions of bytes, no sockets: the data path peeks and
 * consumes, the fuzz target feeds anything. */
#ifndef K3LB_COMMON_PROXYPROTO_H
#define K3LB_COMMON_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The longest header taken: v1 is at most 107 bytes; v2 headers whose TLVs make them longer
 * are refused (the ones load balancers send carry a few dozen bytes of TLVs). */
#define PROXYPROTO_MAX 1024
/* What proxyproto_build may write: a v2 header for IPv6 (16 + 36); v1 needs at most 107. */
#define PROXYPROTO_BUILD_MAX 108

enum proxyproto_status {
    PROXYPROTO_BAD = -1, /* not a valid header: err says why */
    PROXYPROTO_MORE = 0, /* valid so far; more bytes are needed */
    PROXYPROTO_DONE = 1, /* complete: *used bytes are the header */
};

struct proxyproto_addrs {
    int version; /* 1 or 2 */
    bool has;    /* false: LOCAL (v2) or UNKNOWN (v1), keep the connection's own addresses */
    struct sockaddr_storage src, dst; /* the client's, and the address it connected to */
};

/* Reads a header from the start of buf (len bytes so far). Strict: the v1 line must be exactly
 * as the specification writes it, v2 must be a PROXY or LOCAL command of a TCP (or unspecified
 * or unix) family whose TLVs fill its length exactly. */
enum proxyproto_status proxyproto_parse(const unsigned char *buf, size_t len,
                                        struct proxyproto_addrs *out, size_t *used, char *err,
                                        size_t errlen);

/* Writes the header of version 1 or 2 for a connection from src to dst into out (at least
 * PROXYPROTO_BUILD_MAX bytes); returns its length. NULL addresses, or ones of no IP family,
 * give "PROXY UNKNOWN" (v1) or a LOCAL command (v2). An IPv4 address beside an IPv6 one is
 * written in its IPv4-mapped IPv6 form; two IPv4-mapped ones as IPv4. */
size_t proxyproto_build(int version, const struct sockaddr *src, const struct sockaddr *dst,
                        unsigned char *out);

#endif
