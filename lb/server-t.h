/* Live state of one server: what the snapshot cannot say (is it up, drained, how busy). Shared
 * by all workers, the health engine and the admin API; counters are atomics so the data path
 * takes no lock. Lives across reloads while the server stays in the config (matched by backend
 * name and address). */
#ifndef K3LB_LB_SERVER_T_H
#define K3LB_LB_SERVER_T_H

#include "common/net-t.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct health_target;
struct lb_dns_ticket;
struct evdns_base;

/* States of a server of a sticky (agent) backend, best first: new connections go to the best
 * server that accepts. The sticky manager (main thread) publishes them; workers read them. */
enum lb_agent_state {
    LB_AGENT_ACTIVE = 0, /* takes every new connection */
    LB_AGENT_PREFERRED,  /* healthy again after a failure, for a minute: first in line */
    LB_AGENT_HEALTHY,    /* passing its checks */
    LB_AGENT_RECOVERING, /* was down, passing checks, not yet rise of them */
    LB_AGENT_UNCHECKED,  /* no check finished yet */
    LB_AGENT_STANDBY,    /* the fixed address while the learned list lacks it: last resort */
    LB_AGENT_FAILED,     /* down */
    LB_AGENT_COUNT,
};

/* What an operator (or the config) says about a server, apart from its health. */
enum lb_admin_state {
    LB_ADMIN_READY = 0, /* in rotation */
    LB_ADMIN_DRAIN,     /* no new connections; open ones finish */
    LB_ADMIN_MAINT,     /* out of rotation and not probed */
};

/* Counters. Totals only grow; "active" rises and falls. */
/* Dial durations, one per client connection from its first connect to the one that succeeded
 * (or to the last that failed, when none did), as K3s's agent balancer observes them
 * (pkg/agent/loadbalancer/loadbalancer.go:99-104 at 866d743e): counts per bucket of upper bound
 * 1 ms * 2^i (i < 15, up to 16.4 s; K3s's buckets), written by workers, read by metrics. */
#define LB_DIAL_BUCKETS 15
struct lb_dial_hist {
    atomic_uint_fast64_t bucket[LB_DIAL_BUCKETS]; /* not cumulative; longer ones only in count */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
};

struct lb_server_counters {
    atomic_uint_fast64_t active;           /* connections assigned now */
    atomic_uint_fast64_t total;            /* connections ever assigned (connected) */
    atomic_uint_fast64_t connect_failures; /* connects refused or timed out */
    atomic_uint_fast64_t retries;          /* connections moved here after another failed */
    atomic_uint_fast64_t bytes_in;         /* client -> server */
    atomic_uint_fast64_t bytes_out;        /* server -> client */
    struct lb_dial_hist dial_ok;           /* client connections it took */
    struct lb_dial_hist dial_err;          /* client connections no server took, this one
                                              tried last */
};

struct lb_server {
    atomic_int refs;               /* views and the registry holding it */
    char *backend;                 /* name of its backend */
    char *address;                 /* as configured, e.g. "10.0.0.11:6443" */
    struct net_sockaddr sa;        /* where to connect: a host name's address may change when
                                      it is resolved again, so read it with lb_server_addr */
    atomic_flag sa_lock;           /* held while sa is written or copied (a few bytes) */
    uint64_t key_hash;             /* hash of the address, for source balancing */
    unsigned id;                   /* process-unique, never reused */
    atomic_bool backup;            /* only used when no normal server is usable */
    atomic_int send_proxy;         /* enum config_send_proxy: header sent first, or none */
    atomic_uint weight;            /* current weight, 0..256 */
    atomic_uint maxconn;           /* connections at once (active); 0: no limit */
    _Atomic uint64_t slowstart_ms; /* after a recovery, the weight ramps up over this; 0: none */
    atomic_int admin;              /* enum lb_admin_state */
    struct health_target *health;  /* probes and up/down; owned */
    atomic_int agent_state;        /* enum lb_agent_state, for sticky backends */
    bool is_default;               /* sticky: this is the fixed registration address */
    bool standby;                  /* sticky: the default server, not in the learned list */
    bool seen_up;                  /* sticky (main thread): has been up at an update */
    bool was_failed;               /* sticky (main thread): went down after being up */
    uint64_t preferred_until_ms;   /* sticky (main thread): PREFERRED until then (monotonic) */
    bool weight_pinned;            /* the weight was set through the API: reloads keep it */
    struct lb_server_counters c;   /* counters */
    atomic_bool resolved;          /* sa is valid (stored with release after sa is written) */
    struct lb_dns_ticket *dns;     /* a host name's lookups (main thread); NULL for literals */
    char *tunnel_target;           /* through a proxy: what to CONNECT to (sa is the proxy's) */
    char *tunnel_auth;             /* its Proxy-Authorization value, or NULL */
    char *proxy_url;               /* the backend's http_proxy it was made with, or NULL */
};

#endif
