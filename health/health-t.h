/* Types of the health engine. Workers read only `up` (through health_is_up) and bump the
 * passive counters; every other field belongs to the main thread. */
#ifndef K3LB_HEALTH_HEALTH_T_H
#define K3LB_HEALTH_HEALTH_T_H

#include "config/config-t.h"
#include "common/net-t.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Outcome of one probe. The names table (health_result_names) feeds logs, /status and metrics
 * alike, so they always agree. */
enum health_result {
    HEALTH_RESULT_NONE = 0,       /* not probed yet */
    HEALTH_RESULT_OK,             /* the probe passed */
    HEALTH_RESULT_TIMEOUT,        /* no answer within timeout */
    HEALTH_RESULT_REFUSED,        /* connection refused */
    HEALTH_RESULT_UNREACHABLE,    /* no route, network down */
    HEALTH_RESULT_RESET,          /* connection reset or closed early */
    HEALTH_RESULT_TLS_ERROR,      /* handshake or certificate verification failed */
    HEALTH_RESULT_BAD_STATUS,     /* HTTP status not expected, or a database refused the
                                     login or query with an error */
    HEALTH_RESULT_BAD_BODY,       /* body or protocol answer not expected */
    HEALTH_RESULT_PROTOCOL_ERROR, /* the server spoke something else */
    HEALTH_RESULT_UNRESOLVED,     /* the server's host name does not resolve */
    HEALTH_RESULT_PASSIVE,        /* consecutive connect failures of client traffic */
    HEALTH_RESULT_LOCAL_ERROR,    /* a problem on our side that makes checking impossible */
    HEALTH_RESULT_NO_RESOURCES,   /* this process is out of descriptors or memory: says
                                     nothing of the server, so it counts neither way */
    HEALTH_RESULT_BUSY,           /* the server is alive but sheds load (K3s: 429 past 20
                                     agent requests in flight): counts neither way */
    HEALTH_RESULT_PROXY_ERROR,    /* the HTTP proxy refused the CONNECT or broke it */
    HEALTH_RESULT_WRONG_ROLE,     /* a database answered, in a role the check does not want
                                     (a replica when the primary is required) */
    HEALTH_RESULT_SHUTTING_DOWN,  /* the server says it is stopping (kube-apiserver's shutdown
                                     check): down at once, its open connections left to end
                                     as the server ends them */
    HEALTH_RESULT_COUNT,
};

struct health;
struct health_probe;

typedef struct ssl_ctx_st SSL_CTX;
struct bufferevent;

/* A database check's login (postgres, mysql with database.user). */
struct health_db {
    char *user;                  /* NULL: the protocol probe without a login */
    char *password;              /* secret, or NULL (trust / no password) */
    char *name;                  /* database, or NULL */
    char *ca, *cert, *key;       /* tls.ca, tls.cert, tls.key paths, or NULL */
    enum config_sslmode sslmode; /* TLS use */
    enum config_db_role role;    /* which servers pass */
    bool galera;                 /* mysql: require a synced Galera node */
};

/* The API server's own /readyz, asked after the kind's own request passed. */
struct health_apiserver {
    bool on;             /* configured */
    unsigned port;       /* 0: the port of the kind's own request */
    char *path;          /* what to GET */
    char *authorization; /* "Bearer ..." (secret), or NULL: a client certificate, or anonymous */
    char *cert, *key;    /* the client certificate's files, or NULL */
};

/* The parameters of a check, copied from the config so a target never points into a snapshot
 * that a reload may free. Secrets are read from their files or variables when the target is
 * configured and live only here. */
struct health_params {
    enum config_check_kind kind; /* what a probe does */
    uint64_t interval_ms;        /* between probes of an up server */
    uint64_t timeout_ms;         /* probe deadline */
    uint64_t down_interval_ms;   /* between probes of a down server */
    unsigned rise;               /* successes to come up */
    unsigned fall;               /* failures to go down */
    unsigned passive_fall;       /* failed client connects to go down */
    enum config_on_down on_down; /* what happens to open connections on down */
    unsigned port;               /* probes go to this port, 0: the server's */
    char *check_address;         /* probes go to this IP literal, NULL: the server's */
    int proxy_header;            /* PROXY protocol version a probe sends first (0: none): the
                                    server's traffic port expects one */
    char *path;                  /* HTTP path (the kind's default filled in) */
    unsigned *expect_status;     /* accepted statuses */
    size_t n_expect_status;
    char *expect_body;   /* required body text, or NULL */
    char *authorization; /* Authorization header value, or NULL (secret) */
    char *server_name;   /* name to verify and send as SNI, or NULL */
    SSL_CTX *tls;        /* client context for TLS kinds (a reference), or NULL */
    bool verify;         /* verify chain and name */
    char *token_hash;    /* k3s: CA hash from a K10 token, or NULL */
    int token_cred;      /* k3s: enum tls_k3s_cred of the token, for refusals */
    bool learn_ca;       /* k3s: the CA is learnt from /cacerts (no tls.ca given) */
    char *setup_error;   /* why the parameters are unusable (unreadable secret, bad
                            PEM), reported by every probe; NULL when fine */
    char **sans;         /* names server certificates must cover (SAN guard) */
    size_t n_sans;
    struct health_db db;               /* postgres, mysql: login and role */
    struct health_apiserver apiserver; /* k3s, https: the API server's readiness too */
};

/* Probe durations, for the metrics histogram (upper bounds in ms; the last bucket is +Inf). */
#define HEALTH_BUCKETS 12
extern const unsigned health_bucket_ms[HEALTH_BUCKETS - 1];

struct health_histogram {
    uint64_t buckets[HEALTH_BUCKETS]; /* probes per bucket (not cumulative) */
    uint64_t sum_ms;                  /* total duration */
    uint64_t count;                   /* probes */
};

/* An HTTP connection kept open between probes, with what it was opened with: a probe that asks
 * two ports (supervisor and API server) keeps one for each. */
#define HEALTH_KEPT 2
struct health_kept {
    struct bufferevent *bev; /* or NULL */
    SSL_CTX *ctx;            /* the TLS context it was opened with (NULL: plain) */
    unsigned port;           /* the port it goes to */
};

/* What an agent may say of the server's admin state, in the order of lb's enum lb_admin_state
 * (lb/server.h checks): the stronger of the operator's word and the agent's holds. */
enum health_agent_admin {
    HEALTH_AGENT_READY = 0,
    HEALTH_AGENT_DRAIN,
    HEALTH_AGENT_MAINT,
};

struct health_agent;

/* One probed server. */
struct health_target {
    atomic_bool up;                   /* usable for new connections; read on every pick: the
                                         published state, or false once a worker saw passive
                                         failures (until the main thread reports them) */
    atomic_uint passive_fails;        /* consecutive connect failures seen by workers */
    _Atomic uint64_t up_at_ms;        /* when it last came up: a failed connect begun before that
                                         (a SYN sent while it was down) says nothing of it now */
    _Atomic uint64_t recovered_at_ms; /* when it last came up after having been down once up
                                         (slow start ramps from then); 0: never */
    bool was_up;                      /* main thread: it has been up (published) */
    atomic_bool passive_pending;      /* a worker took it down; the main thread has to report */
    atomic_int agent_weight_pct;      /* agent-check: share of the weight, or -1: not said */
    atomic_int agent_admin;           /* agent-check: enum health_agent_admin */
    atomic_uint agent_maxconn;        /* agent-check: maxconn:N said, or 0: as configured */
    bool agent_down;                  /* agent-check: it said down (main thread): held down */
    struct health_agent *agent;       /* agent-check state, or NULL */
    struct health *engine;            /* the engine it belongs to */
    void *owner;                      /* the lb_server it describes */
    char *label;                      /* "backend/address", for logs */
    struct health_params p;           /* current parameters */
    struct net_sockaddr addr;         /* where probes go; len 0 when unresolved */
    const char *tunnel_target;        /* CONNECT to this through the proxy at addr, or NULL */
    const char *tunnel_auth;          /* Proxy-Authorization for it (both: the server's) */
    bool checked_up;                  /* its own verdict: probes and passive failures */
    bool published;                   /* what was last published: checked_up and every target
                                         it needs up */
    struct health_target **needs;     /* requires: targets that must be up too */
    size_t n_needs;
    char *missing;                        /* requires: why it can never be up (no server of a
                                             required backend on its host), or NULL */
    unsigned rise_count;                  /* consecutive successes while down */
    unsigned fall_count;                  /* consecutive failures while up */
    enum health_result last;              /* result of the last probe */
    char detail[256];                     /* human explanation of last, for /status and logs */
    unsigned latency_ms;                  /* duration of the last probe */
    uint64_t since_ms;                    /* monotonic time of the last published change */
    uint64_t checks;                      /* probes run */
    uint64_t transitions;                 /* up/down changes */
    struct event *timer;                  /* next probe */
    uint64_t next_ms;                     /* when it is due (monotonic) */
    bool skip_done;                       /* the next probe was skipped once already */
    struct health_probe *probe;           /* the probe in flight, or NULL */
    char *host;                           /* the server's host as configured, for name checks */
    SSL_CTX *pinned;                      /* k3s: context trusting the CA learnt from /cacerts */
    int trusted;                          /* k3s: enum tls_k3s_trusted, how pinned was decided */
    SSL_CTX *apiserver_ctx;               /* the API server's: trust plus its client certificate */
    SSL_CTX *apiserver_for;               /* the trust context apiserver_ctx was made from */
    struct health_kept kept[HEALTH_KEPT]; /* HTTP connections kept open between probes */
    char san_warning[320];             /* SAN guard finding, "" when the certificate covers all */
    char san_logged[320];              /* the finding last logged, so each is logged once */
    bool paused;                       /* maintenance: no probes */
    struct health_histogram durations; /* probe durations */
};

/* What /status shows of a target. */
struct health_status {
    bool up;                                  /* usable */
    const char *kind;                         /* check kind name */
    enum health_result result;                /* last probe */
    const char *detail;                       /* explanation */
    unsigned latency_ms;                      /* last probe duration */
    uint64_t since_ms;                        /* time in the current state */
    uint64_t checks;                          /* probes run */
    uint64_t transitions;                     /* state changes */
    const char *san_warning;                  /* SAN guard finding, or NULL */
    const char *waiting;                      /* passing its own checks but held down by a
                                                 target it requires ("etcd/10.0.0.1:2379"), or
                                                 NULL */
    const struct health_histogram *durations; /* probe durations */
};

/* What a target probes: its address, the host as written (names are verified against it),
 * and the names clients use for its frontends (SAN guard). */
struct health_endpoint {
    const struct net_sockaddr *addr; /* resolved address; len 0 if unresolved */
    const char *host;                /* host part of the configured address */
    const char *const *sans;         /* frontends' tls_san names */
    size_t n_sans;
    unsigned passive_fall;     /* failed client connects that take it down; 0: fall */
    unsigned check_port;       /* the server's own probe port, 0: the backend's */
    const char *check_address; /* the server's own probe address, NULL: its own */
    int send_proxy;            /* PROXY protocol version its traffic port expects, 0: none */
    bool start_down;           /* must pass rise probes before its first connection */
    const char *tunnel_target; /* through a proxy: CONNECT to this first (addr is the proxy) */
    const char *tunnel_auth;   /* its Proxy-Authorization value, or NULL */
};

#endif
