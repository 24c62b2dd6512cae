/* What agent.c (sources, applying, life cycle) and supervisor.c (the K3s supervisor as a source:
 * /cacerts, /v1-k3s/config, /v1-k3s/apiservers, /db/info) share: the agent's state. Internal to
 * agent/. */
#ifndef K3LB_AGENT_AGENT_INT_H
#define K3LB_AGENT_AGENT_INT_H

#include "agent/agent.h"
#include "agent/list.h"

#include "common/net-t.h"
#include "config/config-t.h"
#include "tls/token.h"

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

enum agent_source {
    SRC_STATE = 0, /* the state file, until a live source answers */
    SRC_STATIC,    /* servers_from: static:A,B */
    SRC_K3S,       /* the supervisor's /v1-k3s/apiservers */
    SRC_DNS,       /* the fixed address's A/AAAA records */
    SRC_API,       /* PUT /servers */
    SRC_COUNT,
};

/* The refresh period grows to this many times agent.refresh while the list stays the same. */
#define REFRESH_BACKOFF_MAX 12
/* A changed list from the servers is applied once it has stood this long, as K3s's agent lets
 * a changed EndpointSlice settle before it moves its balancer and tunnels (endpointDebounceDelay,
 * pkg/agent/tunnel/tunnel.go:47 at 866d743e): a rolling restart changes it several times. */
#define SETTLE_MS 3000

struct k3s_call;

struct agent {
    struct event_base *base;
    struct runtime *rt;
    struct config *cfg;            /* a reference */
    const struct config_agent *ac; /* cfg->agent */
    char default_addr[300];        /* the fixed address as host:port */
    char server_url[310];          /* and as K3s's balancer writes it in its state file,
                                      https://host:port (loadbalancer.go, the default server) */
    char via[NET_ADDRSTRLEN];      /* through a proxy: the agent's own listener, which its
                                      requests go through (as K3s's agent's go through its
                                      balancer); else "" */
    char host[256];                /* its host */
    char port[8];                  /* its port */
    struct tls_k3s_token token;    /* credentials, when a token is configured */
    bool has_token;
    SSL_CTX *insecure;                  /* for /cacerts before pinning */
    SSL_CTX *pinned;                    /* trusts the server's CA, once /cacerts decided it */
    struct evdns_base *dns;             /* the runtime's resolver, borrowed */
    struct event *tick;                 /* refresh timer (one-shot, rescheduled each time) */
    uint64_t refresh_cur_ms;            /* the current refresh period: backs off while unchanged */
    uint64_t rng;                       /* jitter */
    bool want_k3s, want_dns;            /* sources in use */
    struct evhttp_connection *k3s_conn; /* the supervisor request in flight, or NULL */
    struct k3s_call *k3s_call;          /* its callback state */
    struct evhttp_connection *k3s_used; /* a finished one: kept for the next request when it is
                                           alive, to the same server with the same TLS context
                                           (no handshake per poll); else freed by the next one */
    char used_target[NET_ADDRSTRLEN];   /* where k3s_used goes */
    SSL_CTX *used_ctx;                  /* and with which context */
    bool used_alive;                    /* it may carry another request */
    struct agent_list src[SRC_COUNT];   /* each source's last list */
    struct agent_list applied;          /* the learned list last applied */
    bool ports_checked;                 /* /v1-k3s/config was read once */
    bool etcd;                          /* an etcd balancer follows the list */
    struct event *etcd_tick;            /* asks /db/info every agent.etcd_refresh */
    bool dbinfo_due;                    /* asked while another request was in flight */
    bool dbinfo_off;                    /* no server token, or refused: hosts on 2379 */
    struct agent_list members;          /* the etcd members last applied from /db/info */
    struct agent_list settling;         /* a changed /v1-k3s/apiservers list, until it stood */
    struct event *settle;               /* applies it SETTLE_MS after its last change */
};

/* agent.c: a source's list changed (l is taken over); the learned list is applied again. */
void agent_set_source(struct agent *a, enum agent_source s, struct agent_list *l);
/* Another balancer on the learned servers' hosts gets the same hosts on its own port. */
void agent_apply_ported(struct agent *a, const char *backend, unsigned port);
/* "host:port" or "[v6]:port" into the host (without brackets) and the port. */
void agent_split_hostport(const char *hp, char *host, size_t hostlen, unsigned *port);
/* Asks again now (or at the base period from now on). */
void agent_refresh_soon(struct agent *a, bool now);

/* supervisor.c: the next request of the k3s source (CA, ports, then the list). */
void agent_k3s_poll(struct agent *a);
/* /db/info, when the etcd balancer follows it. */
void agent_members_poll(struct agent *a);
/* A changed list stood SETTLE_MS: applied (a->settle's callback). */
void agent_on_settled(evutil_socket_t fd, short what, void *arg);

#endif
