/* Live server state: creation, references and the "may it take a new connection" test. */
#ifndef K3LB_LB_SERVER_H
#define K3LB_LB_SERVER_H

#include "lb/server-t.h"

#include "common/clock.h"
#include "health/agent.h"
#include "health/health.h"

struct health;
struct config_server;
struct config_health;
struct evdns_base;
struct event_base;

extern const char *const lb_admin_state_names[];
extern const char *const lb_agent_state_names[];

/* Where a server sits in the config: its backend's name and checks, and the names clients use
 * for the frontends in front of it (the SAN guard compares certificates with them). */
struct lb_server_ctx {
    const char *backend;            /* backend name */
    const struct config_health *hc; /* the backend's health block */
    const char *const *sans;        /* tls_san names of its frontends */
    size_t n_sans;
    bool sticky;               /* a sticky backend: one failed dial takes a server down */
    bool added;                /* added at run time: probed before it takes traffic */
    struct evdns_base *dns;    /* resolves host names without blocking; NULL: getaddrinfo */
    struct event_base *base;   /* where lookups are retried (with dns) */
    uint64_t resolve_every_ms; /* a host name is resolved again this often (and when down) */
    const char *proxy;         /* the backend's http_proxy URL, or NULL: servers are direct */
    uint64_t slowstart_ms;     /* the backend's slowstart */
};

/* Main thread: resolves the address and starts health probing (engine may be NULL in tests:
 * then the server is always up). */
struct lb_server *lb_server_new(const struct lb_server_ctx *ctx, const struct config_server *cfg,
                                struct health *engine);
/* Applies a reloaded config entry (weight, backup, health parameters). */
void lb_server_configure(struct lb_server *s, const struct lb_server_ctx *ctx,
                         const struct config_server *cfg);
struct lb_server *lb_server_ref(struct lb_server *s);
/* Main thread only: the last reference stops the probes. */
void lb_server_unref(struct lb_server *s);

/* It is reached through the proxy URL (NULL: directly), as when it was made. */
bool lb_server_same_proxy(const struct lb_server *s, const char *proxy);
/* Where to connect, copied under the server's address lock (any thread). */
void lb_server_addr(struct lb_server *s, struct net_sockaddr *out);
/* Main thread: a host name is resolved again now (its server went down: it may have moved). */
void lb_server_resolve_now(struct lb_server *s);

/* Its address is known (a host name may still be resolving). Acquire: sa is read after. */
static inline bool lb_server_resolved(const struct lb_server *s)
{
    return atomic_load_explicit(&s->resolved, memory_order_acquire);
}

static inline bool lb_server_up(const struct lb_server *s)
{
    return lb_server_resolved(s) && (!s->health || health_is_up(s->health));
}

_Static_assert((int)LB_ADMIN_DRAIN == (int)HEALTH_AGENT_DRAIN &&
                   (int)LB_ADMIN_MAINT == (int)HEALTH_AGENT_MAINT,
               "an agent's admin word maps onto lb_admin_state");

/* The admin state that holds: the stronger of the operator's (API, config) and the agent's. */
static inline int lb_server_admin(const struct lb_server *s)
{
    int op = atomic_load_explicit(&s->admin, memory_order_relaxed);
    int ag = s->health ? health_agent_admin(s->health) : LB_ADMIN_READY;
    return op > ag ? op : ag;
}

/* The weight that holds, for "takes new clients at all": the configured (or API) one, 0 when
 * the agent said 0%. Its share of the picks is lb_server_eweight's. */
static inline unsigned lb_server_weight(const struct lb_server *s)
{
    unsigned w = atomic_load_explicit(&s->weight, memory_order_relaxed);
    int pct = s->health ? health_agent_weight(s->health) : -1;
    return pct == 0 ? 0 : w;
}

/* The connection limit that holds: the agent's maxconn:N when it said one, else the config's. */
static inline unsigned lb_server_maxconn(const struct lb_server *s)
{
    unsigned ag = s->health ? health_agent_maxconn(s->health) : 0;
    return ag ? ag : atomic_load_explicit(&s->maxconn, memory_order_relaxed);
}

/* May take a new connection: ready, healthy and weighted. */
static inline bool lb_server_usable(const struct lb_server *s)
{
    return lb_server_admin(s) == LB_ADMIN_READY && lb_server_weight(s) > 0 && lb_server_up(s);
}

/* Weights as picks compare them: in 1/16ths, so that slow start has steps between 0 and 1. */
#define LB_WEIGHT_SCALE 16

/* The weight picks use, scaled: the weight times the agent's N% when it said one, and during
 * slow start (after a recovery) times the part of slowstart gone by, each rounded up: at least
 * 1/16, so that a recovered server gets its first clients at once, then more and more, instead
 * of the whole share of a cold server at once. */
static inline uint64_t lb_server_eweight(const struct lb_server *s)
{
    /* The weight and the agent's share are read once here: this runs per candidate per pick. */
    uint64_t w = (uint64_t)atomic_load_explicit(&s->weight, memory_order_relaxed) * LB_WEIGHT_SCALE;
    uint64_t ramp = atomic_load_explicit(&s->slowstart_ms, memory_order_relaxed), since, now;
    int pct = s->health ? health_agent_weight(s->health) : -1;
    if (pct >= 0 && pct < 100) /* 0% gives 0, as lb_server_weight says */
        w = (w * (uint64_t)pct + 99) / 100;
    if (!ramp || !w || !s->health || !(since = health_recovered_at(s->health)))
        return w;
    now = clock_now_ms();
    if (now - since >= ramp)
        return w;
    return (w * (now - since) + ramp - 1) / ramp ?: 1;
}

/* A connection slot of a server with maxconn: taken before its connect, given back when the
 * connection lets the server go. Compare-and-swap, so workers together never exceed it. */
static inline bool lb_server_take_slot(struct lb_server *s)
{
    unsigned max = lb_server_maxconn(s);
    uint_fast64_t n = atomic_load_explicit(&s->c.active, memory_order_relaxed);
    if (!max) {
        atomic_fetch_add_explicit(&s->c.active, 1, memory_order_relaxed);
        return true;
    }
    do {
        if (n >= max)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&s->c.active, &n, n + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

/* The server has room for one more connection. */
static inline bool lb_server_has_slot(const struct lb_server *s)
{
    unsigned max = lb_server_maxconn(s);
    return !max || atomic_load_explicit(&s->c.active, memory_order_relaxed) < max;
}

static inline uint64_t lb_server_active(const struct lb_server *s)
{
    return atomic_load_explicit(&s->c.active, memory_order_relaxed);
}

/* "up", "down", "drain" or "maint": the state /status shows. */
const char *lb_server_state_name(const struct lb_server *s);

#endif
