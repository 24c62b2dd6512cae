/* Parsers for single configuration values: durations, addresses, numbers, booleans, names.
 *
 * Each returns true on success; on failure it writes a short reason (no position: the caller
 * knows where the value stands) into why. Pure functions, unit-tested on their own. */
#ifndef K3LB_CONFIG_VALUE_H
#define K3LB_CONFIG_VALUE_H

#include "config/config-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where an address is used decides what forms it may take. */
enum config_addr_use {
    CONFIG_ADDR_LISTEN = 0, /* ":port" allowed (every address) */
    CONFIG_ADDR_TARGET,     /* a host is required */
    CONFIG_ADDR_ADMIN,      /* like LISTEN, plus "unix:/path" */
};

/* "500ms", "3s", "1m30s", "1.5h", "2d", or "0". Result in milliseconds. */
bool config_parse_duration(const char *s, uint64_t *ms, char *why, size_t whylen);
/* Writes the shortest exact form, e.g. 90000 -> "1m30s", 0 -> "0". */
void config_format_duration(uint64_t ms, char *buf, size_t len);

bool config_parse_addr(const char *s, enum config_addr_use use, struct net_addr *out, char *why,
                       size_t whylen);
void config_addr_free(struct net_addr *a);
void config_addr_copy(struct net_addr *dst, const struct net_addr *src);
/* True when two listen addresses cannot both be bound (same port and the same or a wildcard
 * host). */
/* "host:port" (or "[v6]:port") written again with another port, into out. */
void config_addr_with_port(const char *addr, unsigned port, char *out, size_t len);
/* ":port", 0.0.0.0 or [::]: every address of the host. */
bool config_addr_is_wildcard(const struct net_addr *a);
bool config_addr_overlap(const struct net_addr *a, const struct net_addr *b);

/* "https://host[:port][/]" (the K3s form of --server: port 443 when absent, as K3s reads it)
 * or a bare "host[:port]" (port 6443 when absent) -> "host:port" (IPv6 hosts in brackets),
 * written into out. */
bool config_parse_server_url(const char *s, char *out, size_t outlen, char *why, size_t whylen);
/* The n bytes at p as host[:port], with default_port when they name none, normalised into out
 * ("host:port" or "[v6]:port"); false with the reason. */
bool config_hostport_default(const char *p, size_t n, unsigned default_port, char *out,
                             size_t outlen, char *why, size_t whylen);
/* "Basic base64(creds)", an Authorization or Proxy-Authorization value for the n bytes
 * "user:password" (malloc'd). */
char *config_auth_basic(const char *creds, size_t n);
/* An HTTP forward proxy's URL, "http://[user:password@]host[:port]" (port 80 when none): its
 * host:port into hostport and, with credentials, the Proxy-Authorization value (malloc'd,
 * "Basic ...") into *auth, else NULL. false with the reason (which never quotes a password). */
bool config_parse_proxy_url(const char *s, char *hostport, size_t len, char **auth, char *why,
                            size_t whylen);
/* A literal loopback address: 127.0.0.0/8 or ::1 (a name such as "localhost" is not). */
bool config_loopback_literal(const char *host);
/* NO_PROXY (comma list) says host:port is reached directly; loopback always is (as Go's
 * httpproxy decides for K3s). host without brackets. */
bool config_no_proxy(const char *no_proxy, const char *host, unsigned port);

/* Decimal integer in [min, max]; also accepts sizes with k/m/g suffixes when sizes is true. */
bool config_parse_uint(const char *s, uint64_t min, uint64_t max, bool sizes, uint64_t *out,
                       char *why, size_t whylen);
bool config_parse_bool(const char *s, bool *out, char *why, size_t whylen);
/* Index of s in the NULL-terminated names, or -1 with a reason listing the choices. */
int config_parse_enum(const char *s, const char *const *names, char *why, size_t whylen);

/* The candidate closest to word by edit distance when it is close enough to be a likely typo,
 * else NULL. */
const char *config_closest(const char *word, const char *const *candidates);

#endif
