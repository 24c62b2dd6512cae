/* Types of the configuration snapshot: what config/ hands to the rest of k3lb.
 *
 * A snapshot is built once from YAML or flags, validated as a whole and never changed after;
 * a reload builds a new one and swaps it. Every section struct begins with a struct config_obj
 * so that later checks (cross references, duplicates) can point at the exact line and column
 * of any key. */
#ifndef K3LB_CONFIG_CONFIG_T_H
#define K3LB_CONFIG_CONFIG_T_H

#include "common/net-t.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a value came from: a file position (1-based) or, with line 0, a flag or env name. */
struct config_mark {
    const char *file; /* file path or flag name; interned, lives as long as the process */
    unsigned line;    /* 1-based line, 0 when the value came from a flag or env var */
    unsigned col;     /* 1-based column */
};

/* Header of every section struct. */
struct config_obj {
    struct config_mark mark;  /* position of the mapping itself */
    struct config_mark *keys; /* position of each key's value, indexed like the section's keys;
                                 line 0 and file NULL when the key was not given */
};

enum config_balance {
    CONFIG_BALANCE_ROUNDROBIN = 0, /* smooth weighted round-robin */
    CONFIG_BALANCE_LEASTCONN,      /* fewest active connections per weight */
    CONFIG_BALANCE_RANDOM,         /* power of two random choices */
    CONFIG_BALANCE_SOURCE,         /* client address hash (rendezvous) */
    CONFIG_BALANCE_FIRST,          /* first usable in config order */
    CONFIG_BALANCE_STICKY,         /* one ACTIVE server takes all (agent mode) */
    CONFIG_BALANCE_COUNT,
};

/* The check kinds, one row each: the enum, the config word, the traits config validation and
 * the health engine share, and the help text. The probe code of each kind is health/check_*.c,
 * listed against the same enum in health/health.c.
 *   X(ENUM, "name", speaks_http, uses_tls, "default HTTP path" or NULL, "help") */
#define CONFIG_CHECK_KINDS(X)                                                                      \
    X(TCP, "tcp", false, false, NULL, "the TCP connect succeeds")                                  \
    X(NONE, "none", false, false, NULL, "no probes; failed client connects still count")           \
    X(TLS, "tls", false, true, NULL, "the TLS handshake succeeds and verifies")                    \
    X(HTTP, "http", true, false, "/readyz", "GET path answers an expected status")                 \
    X(HTTPS, "https", true, true, "/readyz", "the same over TLS")                                  \
    X(K3S, "k3s", true, true, "/ping",                                                             \
      "K3s supervisor: /ping, or /v1-k3s/readyz with a token (CA pinned to the token's hash)")     \
    X(ETCD, "etcd", true, true, "/health", "etcd /health says health true (client certificate)")   \
    X(POSTGRES, "postgres", false, false, NULL,                                                    \
      "the server answers a startup message; with database.user, libpq logs in and the role "      \
      "(pg_is_in_recovery) must match")                                                            \
    X(MYSQL, "mysql", false, false, NULL,                                                          \
      "the server greets with a protocol-10 handshake; with database.user, it logs in and the "    \
      "role (read_only, Galera sync) must match")

enum config_check_kind {
#define CONFIG_CHECK_ENUM(e, name, http, tls, path, help) CONFIG_CHECK_##e,
    CONFIG_CHECK_KINDS(CONFIG_CHECK_ENUM)
#undef CONFIG_CHECK_ENUM
        CONFIG_CHECK_COUNT,
};

/* One check kind's row of CONFIG_CHECK_KINDS. */
struct config_check_kind_info {
    const char *name;         /* as written in the config */
    bool speaks_http;         /* path, expect_status, expect_body and auth apply */
    bool uses_tls;            /* the probe runs over TLS (tls: applies) */
    const char *default_path; /* HTTP path when path: is not given */
    const char *help;         /* one line for docs and --help */
};

/* TLS settings of a check (client side). */
struct config_tls {
    struct config_obj obj;
    char *ca;          /* PEM bundle that server certificates must chain to; NULL: system */
    char *cert;        /* client certificate (PEM), e.g. for etcd's client-cert-auth */
    char *key;         /* its private key */
    char *server_name; /* SNI and the name the certificate must cover; NULL: the address */
    bool verify;       /* verify the chain and the name */
};

struct config_basic_auth {
    struct config_obj obj;
    char *user;          /* user name */
    char *password_file; /* file holding the password */
    char *password_env;  /* or an environment variable holding it */
};

/* Credentials an HTTP check sends; secrets come from files or the environment only. */
struct config_auth {
    struct config_obj obj;
    char *bearer_token_file;        /* file holding a bearer token */
    char *bearer_token_env;         /* or an environment variable holding it */
    struct config_basic_auth basic; /* or basic auth */
};

/* How a database check uses TLS, with libpq's sslmode words and meanings. */
enum config_sslmode {
    CONFIG_SSLMODE_DISABLE = 0, /* plain TCP */
    CONFIG_SSLMODE_PREFER,      /* TLS when the server offers it, unverified */
    CONFIG_SSLMODE_REQUIRE,     /* TLS or fail, unverified */
    CONFIG_SSLMODE_VERIFY_CA,   /* TLS, the chain verified against tls.ca */
    CONFIG_SSLMODE_VERIFY_FULL, /* TLS, the chain and the server's name verified */
};

/* Which servers a database check passes. */
enum config_db_role {
    CONFIG_DB_ROLE_ANY = 0, /* any server that lets the check log in and query */
    CONFIG_DB_ROLE_PRIMARY, /* only a writable one (PostgreSQL: not in recovery; MySQL: not
                               read_only) */
    CONFIG_DB_ROLE_REPLICA, /* only a read-only one */
};

/* A database check's login: with a user, postgres and mysql checks log in and query. */
struct config_database {
    struct config_obj obj;
    char *user;                        /* log in as this user; NULL: the protocol probe only */
    char *password_file;               /* file holding its password */
    char *password_env;                /* or an environment variable holding it */
    char *name;                        /* database to connect to, or NULL */
    enum config_sslmode sslmode;       /* TLS use */
    enum config_db_role role_required; /* which servers pass */
    bool galera;                       /* mysql: also require a synced Galera node */
};

enum config_all_down {
    CONFIG_ALL_DOWN_LAST_RESORT = 0, /* try a down server: its check may be wrong or behind */
    CONFIG_ALL_DOWN_REFUSE,          /* close the client: a down server is worse than none */
};

/* PROXY protocol header sent first on each server connection. A server's own setting may be
 * BACKEND (as its backend's) until the load resolves it. */
enum config_send_proxy {
    CONFIG_SEND_PROXY_NONE = 0,
    CONFIG_SEND_PROXY_V1 = 1,  /* text line; the value is the protocol's version number */
    CONFIG_SEND_PROXY_V2 = 2,  /* binary */
    CONFIG_SEND_PROXY_BACKEND, /* servers only, before the load resolves it */
};

enum config_on_down {
    CONFIG_ON_DOWN_CLOSE = 0, /* close a server's connections when it goes down */
    CONFIG_ON_DOWN_KEEP,      /* let them run until they end by themselves */
};

/* The API server's own /readyz, asked once a k3s or https check's own request passed: the server
 * is up only while both are. */
struct config_apiserver {
    struct config_obj obj;
    bool enabled;            /* the block was given (set when the health block is checked) */
    unsigned port;           /* 0: the port the check's own request went to */
    char *path;              /* GET this (default /readyz) */
    char *bearer_token_file; /* credentials: a bearer token the API server accepts, */
    char *bearer_token_env;
    char *cert; /* or a client certificate, */
    char *key;
    bool anonymous; /* or none: the servers admit anonymous requests to path */
};

/* HAProxy's agent-check: a small agent on each server says its weight (N%), ready, drain,
 * maint, up or down, on a port of its own, apart from the health check. */
struct config_agent_check {
    struct config_obj obj;
    bool enabled;         /* the block was given (set when the health block is checked) */
    unsigned port;        /* the agent's port on each server (its check address) */
    uint64_t interval_ms; /* time between questions */
    uint64_t timeout_ms;  /* an answer slower than this changes nothing */
    char *send;           /* sent first, or NULL: the agent speaks at once */
};

struct config_health {
    struct config_obj obj;
    enum config_check_kind kind; /* what a probe does */
    uint64_t interval_ms;        /* time between probes of an up server */
    uint64_t timeout_ms;         /* a probe slower than this fails */
    uint64_t down_interval_ms;   /* time between probes of a down server */
    unsigned rise;               /* consecutive successes that bring a server up */
    unsigned fall;               /* consecutive failures (probes or connects) that take it down */
    enum config_on_down on_down; /* fate of open connections of a server going down */
    unsigned port;               /* probes go to this port; 0: the server's own */
    char *path;                  /* HTTP path; NULL: the kind's default */
    unsigned *expect_status;     /* accepted HTTP statuses */
    size_t n_expect_status;
    char *expect_body;                 /* substring the body must contain, or NULL */
    struct config_tls tls;             /* TLS client settings */
    struct config_auth auth;           /* HTTP credentials */
    struct config_database database;   /* postgres, mysql: login and role */
    char *token_file;                  /* k3s: file holding the K3s token */
    char *token_env;                   /* k3s: or an environment variable holding it */
    struct config_apiserver apiserver; /* k3s, https: the API server's readiness too */
    struct config_agent_check agent;   /* the servers' own word on their weight and state */
};

struct config_server {
    struct config_obj obj;
    struct net_addr address;           /* where to connect */
    unsigned weight;                   /* share of new connections, 1..256; 0 keeps it out */
    bool backup;                       /* used only when no normal server is usable */
    unsigned check_port;               /* probes go to this port; 0: the backend's health.port */
    char *check_address;               /* probes go to this IP address; NULL: the server's */
    enum config_send_proxy send_proxy; /* resolved at load: never BACKEND after it */
    unsigned maxconn;                  /* connections at once; 0: the backend's maxconn */
};

enum config_role {
    CONFIG_ROLE_GENERIC = 0, /* any TCP service */
    CONFIG_ROLE_ETCD,        /* etcd members: the quorum guard watches them */
};

struct config_backend {
    struct config_obj obj;
    char *name;                  /* unique among backends */
    enum config_role role;       /* what the servers are, for guards */
    enum config_balance balance; /* how a server is picked */
    uint64_t connect_timeout_ms; /* a connect slower than this is retried elsewhere */
    uint64_t idle_timeout_ms;    /* 0 = never: watches and tunnels idle for hours */
    char *http_proxy;            /* reach the servers through this proxy's CONNECT, or NULL */
    enum config_all_down when_all_down; /* when no server passes its checks */
    enum config_send_proxy send_proxy;  /* the servers' default */
    unsigned maxconn;                   /* each server's limit of connections at once; 0: none */
    unsigned max_queue;                 /* clients that may wait for a slot at once */
    uint64_t queue_timeout_ms;          /* how long one waits before it is closed */
    uint64_t slowstart_ms; /* a recovered server's weight ramps up over this; 0: none */
    struct config_server *servers;
    size_t n_servers;
    struct config_health health;
    char **requires; /* names of backends whose servers on the same host must be up for a
                        server here to take traffic (join readiness); checked at load */
    size_t n_requires;
};

/* One SNI route of a frontend: TLS clients asking for one of names go to backend. */
struct config_route {
    struct config_obj obj;
    char **sni; /* host names in lower case, exact or "*.suffix" (any name ending in .suffix) */
    size_t n_sni;
    char *backend;        /* the backend's name */
    size_t backend_index; /* resolved index into config.backends */
};

struct config_frontend {
    struct config_obj obj;
    char *name;              /* unique among frontends */
    struct net_addr *listen; /* addresses to accept on */
    size_t n_listen;
    char *backend; /* name of the backend it forwards to; with routes, the default one, or NULL */
    struct config_route *routes; /* by the server name of the client's TLS hello, when any */
    size_t n_routes;
    uint64_t hello_timeout_ms; /* routes: time for the hello; then the default backend */
    char **tls_san;            /* names clients use for it; server certificates must cover them */
    size_t n_tls_san;
    bool access_log;        /* log one line per finished connection */
    bool freebind;          /* listen addresses may be absent from the host (yet) */
    struct net_cidr *allow; /* when any: only clients in these networks are served */
    size_t n_allow;
    struct net_cidr *deny; /* clients in these networks are refused */
    size_t n_deny;
    unsigned source_max_conns;   /* connections one source may have open; 0: no limit */
    unsigned source_max_rate;    /* new connections per second one source may open; 0: none */
    unsigned source_ipv6_prefix; /* IPv6 sources are counted per prefix this long */
    bool accept_proxy;           /* clients start with a PROXY protocol header */
    uint64_t proxy_timeout_ms;   /* for that header to arrive */
    size_t backend_index;        /* resolved index into config.backends; n_backends: none */
};

struct config_admin {
    struct config_obj obj;
    struct net_addr listen; /* HTTP status/API address; unix:/path or loopback TCP */
    char *token_file;       /* bearer token required from API clients */
    char *token_env;        /* or the variable that holds it */
};

/* k3lb agent: the client-side balancer beside a K3s agent. Its frontends and backends are
 * derived from this section (see config_build's agent mode). */
struct config_agent {
    struct config_obj obj;
    char *server;            /* the fixed registration address, https://host[:port] */
    struct net_addr *listen; /* client listeners (default set by the agent command) */
    size_t n_listen;
    struct net_addr etcd_listen; /* optional second balancer for etcd; port 0 when unset */
    uint64_t etcd_refresh_ms;    /* how often /db/info is asked for the etcd members */
    unsigned apiserver_port;     /* the servers' API port when it differs from the supervisor's
                                    (RKE2: 6443 beside 9345); 0: the same port */
    struct net_addr *apiserver_listen; /* listeners for the API servers (default: each
                                          listen host on apiserver_port) */
    size_t n_apiserver_listen;
    char *token_file;    /* K3s token file */
    char *token_env;     /* or the variable holding the token */
    char *state_file;    /* where the learned server list is kept */
    char **servers_from; /* list sources: k3s, dns, static:A,B */
    size_t n_servers_from;
    uint64_t dial_timeout_ms; /* connect timeout per server */
    uint64_t refresh_ms;      /* how often sources are polled */
    char *http_proxy;         /* the servers are reached through this proxy (every backend) */
    unsigned program;         /* enum config_program: whose supervisor (route prefix) */
};

/* Whose supervisor the agent talks to: its routes are /v1-<name>/... (K3s builds them from
 * version.Program, pkg/server/handlers/router.go). */
enum config_program {
    CONFIG_PROGRAM_K3S = 0,
    CONFIG_PROGRAM_RKE2,
};

struct config_log {
    struct config_obj obj;
    unsigned level;  /* enum log_level */
    unsigned format; /* enum log_format */
};

/* An anycast address announced through a routing daemon on this host (FRR, BIRD), for as long
 * as the frontends have usable servers and k3lb runs: the address sits on a TUN interface
 * k3lb holds open, with a lifetime it renews. */
struct config_announce {
    struct config_obj obj;
    struct net_cidr *addresses; /* none: nothing is announced */
    size_t n_addresses;
    char *interface;  /* the TUN interface's name */
    char **frontends; /* whose health decides; none: every frontend */
    size_t n_frontends;
    uint64_t lifetime_ms; /* the addresses expire unless renewed (a hung k3lb) */
};

struct config {
    struct config_obj obj;
    atomic_int refs;              /* snapshot owners; freed when the last lets go */
    char *source;                 /* file path, or "command line" */
    unsigned workers;             /* worker threads; 0 = one per online CPU */
    uint64_t grace_ms;            /* on SIGTERM, how long open connections may finish */
    uint64_t stop_delay_ms;       /* before that: saying stopping, still accepting this long */
    uint64_t buffer_size;         /* per-direction forwarding buffer, bytes */
    bool splice;                  /* forward with splice(2) through pipes instead of copying */
    unsigned maxconn;             /* concurrent client connections per process, 0 = fd limit */
    char *user;                   /* drop to this user after binding, when started as root */
    struct net_addr resolver;     /* DNS server for host names; port 0: /etc/resolv.conf */
    uint64_t resolve_interval_ms; /* host names are resolved again this often; 0: never */
    struct config_admin admin;
    struct config_log log;
    struct config_agent agent; /* k3lb agent only */
    struct config_announce announce;
    struct config_frontend *frontends;
    size_t n_frontends;
    struct config_backend *backends;
    size_t n_backends;
};

/* One diagnostic: "file:line:col: message". */
struct config_error {
    char text[512];
};

/* Diagnostics of one load; a load fails when n > 0. */
/* At most this many errors (and as many warnings) are kept; the rest are only counted. */
#define CONFIG_ERRORS_KEPT 200

struct config_errors {
    struct config_error *list;
    size_t n;
    struct config_error *warnings; /* said, but the config loads */
    size_t n_warnings;
    size_t more, more_warnings; /* counted past CONFIG_ERRORS_KEPT */
    bool lenient_secrets;       /* `k3lb check`: a secret that cannot be read here is a warning */
    size_t in_object;           /* errors in the object a section check is looking at: checks that
                                   derive an error from other values say nothing when they are bad */
};

/* A value set from a flag or the environment, laid over the YAML before validation. */
struct config_override {
    const char *path;          /* dotted path; numbers index lists */
    const char *const *values; /* the value(s) */
    size_t n_values;           /* more than one, or list set: a YAML list */
    bool list;                 /* the target is a list even with one value */
    const char *origin;        /* "--server" or "K3LB_SERVER", used in error messages */
};

/* What the agent role fills in when its config leaves it out. */
struct config_agent_defaults {
    const char *const *hosts; /* the loopback hosts it listens on when agent.listen is not
                                 given ("127.0.0.1", "[::1]"), on the fixed address's port */
    size_t n_hosts;
};

#endif
