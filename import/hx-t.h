/* Types of the HAProxy importer: what import/hx_read.c (reading an HAProxy config) hands to
 * import/hx_write.c (writing k3lb YAML): the sections as read, and the warning stream both add
 * to. Inside import/ only. */
#ifndef K3LB_IMPORT_HX_T_H
#define K3LB_IMPORT_HX_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MAX_TOKENS 64
#define MAX_ITEMS  256 /* proxies, servers per proxy, binds per proxy */

enum hx_check { HX_CHECK_TCP = 0, HX_CHECK_HTTP, HX_CHECK_PG, HX_CHECK_MYSQL, HX_CHECK_TLS };
enum hx_kind { HX_DEFAULTS = 0, HX_FRONTEND, HX_BACKEND, HX_LISTEN };

/* A server's settings, and a default-server's. Times in ms; 0: not given. */
struct hx_srv {
    char *name, *addr, *check_addr, *agent_send;
    unsigned line, weight, port, rise, fall, maxconn, maxqueue, agent_port;
    uint64_t inter, downinter, slowstart, agent_inter;
    bool agent;
    int send_proxy; /* 0, 1, 2 */
    bool has_weight, backup, disabled, check, check_ssl, verify_none, shutdown_sessions;
};

/* An SNI route read from use_backend ... if <conditions on req.ssl_sni>, or an acl of them:
 * names as k3lb routes write them (exact, or "*.suffix"). */
struct hx_route {
    char *backend; /* NULL in an acl */
    char *acl;     /* the acl's name, NULL in a route */
    char *names[MAX_TOKENS];
    size_t n_names;
    unsigned line;
};

struct hx_proxy {
    enum hx_kind kind;
    char *name;
    unsigned line;
    bool accept_proxy, tcplog;
    char *balance, *default_backend, *http_path, *expect_body;
    char *binds[MAX_ITEMS];
    size_t n_binds;
    unsigned maxconn, expect_status;
    uint64_t t_connect, t_client, t_server, t_tunnel, t_check;
    enum hx_check check;
    uint64_t t_queue, inspect_delay, rate_period;
    unsigned src_conns, src_rate; /* tcp-request connection reject if { sc_conn_cur gt N } ... */
    char *rate_table;             /* track-sc0 src table NAME: whose stick-table counts */
    struct hx_route *routes[MAX_ITEMS], *acls[MAX_ITEMS];
    size_t n_routes, n_acls;
    struct hx_srv defsrv;
    struct hx_srv srv[MAX_ITEMS];
    size_t n_srv;
};

struct hx {
    const char *file;
    FILE *warn;
    size_t n_warnings;
    bool differs;
    struct hx_proxy *p[MAX_ITEMS];
    size_t n_p;
    struct hx_proxy defaults; /* the last defaults section */
    struct hx_proxy *cur;     /* the section being read; &defaults in a defaults section */
    bool in_other;            /* in a section k3lb has no use for (userlist, peers...) */
    bool in_global;
    unsigned g_maxconn, g_threads;
    char *g_user;
    unsigned line;
};

#endif
