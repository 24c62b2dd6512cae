/* Live server objects. Created and freed on the main thread; workers only touch atomics. */
#include "lb/server.h"
#include "common/xalloc.h"

#include "config/config-t.h"
#include "config/value.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const lb_admin_state_names[] = {"ready", "drain", "maint", NULL};
const char *const lb_agent_state_names[] = {"active",    "preferred", "healthy", "recovering",
                                            "unchecked", "standby",   "failed",  NULL};

static atomic_uint next_id;

/* ---- addresses ------------------------------------------------------------------------------ */

/* The lookups of a host name: the first, then one every resolve_every_ms and one when the
 * server goes down (it may have moved). It outlives its server when the server goes first:
 * the server is then cleared here and the answer dropped. */
struct lb_dns_ticket {
    struct lb_server *server;              /* NULL once the server is gone */
    struct evdns_base *dns;                /* where to ask */
    struct evdns_getaddrinfo_request *req; /* the lookup, while one runs */
    struct event *timer;                   /* the next lookup */
    uint64_t every_ms;                     /* period once resolved; 0: never again */
    uint64_t asked_ms;                     /* when the last lookup started (monotonic) */
    char host[256];                        /* what to look up */
    char port[8];
    bool warned; /* a failure was logged already */
};

#define DNS_RETRY_MS   5000 /* after a failed lookup */
#define DNS_MIN_GAP_MS 1000 /* between lookups asked for by a server going down */

void lb_server_addr(struct lb_server *s, struct net_sockaddr *out)
{
    while (atomic_flag_test_and_set_explicit(&s->sa_lock, memory_order_acquire))
        ;
    *out = s->sa;
    atomic_flag_clear_explicit(&s->sa_lock, memory_order_release);
}

static void publish_address(struct lb_server *s, const struct sockaddr *sa, socklen_t len)
{
    while (atomic_flag_test_and_set_explicit(&s->sa_lock, memory_order_acquire))
        ;
    memcpy(&s->sa.u.ss, sa, len);
    s->sa.len = len;
    atomic_flag_clear_explicit(&s->sa_lock, memory_order_release);
    atomic_store_explicit(&s->resolved, true, memory_order_release); /* after sa, for workers */
    if (s->health)
        health_target_set_addr(s->health, &s->sa);
}

static void dns_ask(struct lb_dns_ticket *t);

static void dns_schedule(struct lb_dns_ticket *t, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(t->timer, &tv);
}

/* The address to use from an answer: the current one while the name still has it (a
 * round-robin answer in another order is no move), else the first. */
static const struct evutil_addrinfo *dns_pick(const struct lb_server *s,
                                              const struct evutil_addrinfo *res)
{
    if (atomic_load(&s->resolved))
        for (const struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next)
            if ((socklen_t)ai->ai_addrlen == s->sa.len &&
                memcmp(ai->ai_addr, &s->sa.u.ss, s->sa.len) == 0)
                return NULL;
    return res;
}

static void dns_answer(int err, struct evutil_addrinfo *res, void *arg)
{
    struct lb_dns_ticket *t = arg;
    struct lb_server *s = t->server;
    char text[NET_ADDRSTRLEN], was[NET_ADDRSTRLEN] = "";
    t->req = NULL;
    if (!s) { /* the server went away while we asked */
        if (res)
            evutil_freeaddrinfo(res);
        event_free(t->timer);
        free(t);
        return;
    }
    if (err == 0 && res) {
        const struct evutil_addrinfo *pick = dns_pick(s, res);
        if (pick) {
            if (atomic_load(&s->resolved))
                net_format(&s->sa.u.sa, s->sa.len, was, sizeof(was));
            publish_address(s, pick->ai_addr, (socklen_t)pick->ai_addrlen);
            net_format(pick->ai_addr, (socklen_t)pick->ai_addrlen, text, sizeof(text));
            if (was[0])
                log_info("server_resolved", "%s/%s moved: now %s (was %s)", s->backend, s->address,
                         text, was);
            else
                log_info("server_resolved", "%s/%s is %s", s->backend, s->address, text);
        }
        evutil_freeaddrinfo(res);
        t->warned = false;
        if (t->every_ms)
            dns_schedule(t, t->every_ms);
        return;
    }
    if (!t->warned && atomic_load(&s->resolved)) {
        net_format(&s->sa.u.sa, s->sa.len, was, sizeof(was));
        log_warn("server_unresolved", "%s/%s: cannot resolve again: %s; keeping %s", s->backend,
                 s->address, evutil_gai_strerror(err), was);
    } else if (!t->warned) {
        log_warn("server_unresolved",
                 "%s/%s: cannot resolve: %s; out of rotation, asking again every %d s", s->backend,
                 s->address, evutil_gai_strerror(err), DNS_RETRY_MS / 1000);
    }
    t->warned = true;
    dns_schedule(t, DNS_RETRY_MS);
}

static void dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dns_ask(arg);
}

static void dns_ask(struct lb_dns_ticket *t)
{
    struct evutil_addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = EVUTIL_AI_NUMERICSERV};
    struct evdns_getaddrinfo_request *req;
    t->asked_ms = clock_now_ms();
    /* An answer known at once (/etc/hosts, a bad name) comes back inside this call, which then
     * returns NULL: t->req is set only when the lookup is pending. */
    req = evdns_getaddrinfo(t->dns, t->host, t->port, &hints, dns_answer, t);
    if (req)
        t->req = req;
}

void lb_server_resolve_now(struct lb_server *s)
{
    struct lb_dns_ticket *t = s->dns;
    uint64_t since;
    if (!t || t->req)
        return;
    since = clock_now_ms() - t->asked_ms;
    evtimer_del(t->timer);
    if (since < DNS_MIN_GAP_MS)
        dns_schedule(t, DNS_MIN_GAP_MS - since); /* soon, not in a burst */
    else
        dns_ask(t);
}

/* A literal address is known at once; a host name is looked up without blocking (or, with no
 * resolver given, as tests do, with getaddrinfo, once). Until then the server takes no
 * traffic. */
static void resolve(struct lb_server *s, const struct net_addr *a, const struct lb_server_ctx *ctx)
{
    struct evdns_base *dns = ctx->dns;
    struct net_sockaddr sa;
    struct lb_dns_ticket *t;
    int rc = net_resolve_numeric(a, &sa);
    if (rc != 0 && !dns)
        rc = net_resolve(a, &sa);
    if (rc == 0) {
        publish_address(s, &sa.u.sa, sa.len);
        return;
    }
    if (!dns) {
        log_warn("server_unresolved", "%s/%s: cannot resolve: %s; kept out of rotation", s->backend,
                 s->address, gai_strerror(rc));
        return;
    }
    t = xcalloc(1, sizeof(*t));
    t->server = s;
    t->dns = dns;
    t->every_ms = ctx->resolve_every_ms;
    snprintf(t->host, sizeof(t->host), "%s", a->host);
    snprintf(t->port, sizeof(t->port), "%u", a->port);
    t->timer = evtimer_new(ctx->base, dns_timer_cb, t);
    s->dns = t;
    dns_ask(t);
}

/* The server is going: a lookup in flight is told to drop its answer. */
static void forget_lookup(struct lb_server *s)
{
    struct lb_dns_ticket *t = s->dns;
    if (!t)
        return;
    s->dns = NULL;
    t->server = NULL;
    if (t->req) {
        evdns_getaddrinfo_cancel(t->req); /* the answer callback frees the ticket */
    } else {
        event_free(t->timer);
        free(t);
    }
}

static struct health_endpoint endpoint_of(const struct lb_server *s,
                                          const struct lb_server_ctx *ctx,
                                          const struct config_server *cfg)
{
    return (struct health_endpoint){.addr = &s->sa,
                                    .host = cfg->address.host,
                                    .sans = ctx->sans,
                                    .n_sans = ctx->n_sans,
                                    .passive_fall = ctx->sticky ? 1 : 0,
                                    .start_down = ctx->added,
                                    .check_port = cfg->check_port,
                                    .check_address = cfg->check_address,
                                    .send_proxy = (int)cfg->send_proxy, /* the version, or 0 */
                                    .tunnel_target = s->tunnel_target,
                                    .tunnel_auth = s->tunnel_auth};
}

/* Through a proxy the server's socket address is the proxy's, and the server's own address
 * is what the proxy is asked to CONNECT to (the proxy resolves a name). */
static const struct net_addr *dial_address(struct lb_server *s, const struct lb_server_ctx *ctx,
                                           const struct config_server *cfg, struct net_addr *proxy)
{
    char hostport[NET_ADDRSTRLEN], why[300];
    if (!ctx->proxy)
        return &cfg->address;
    s->proxy_url = xstrdup(ctx->proxy);
    if (!config_parse_proxy_url(ctx->proxy, hostport, sizeof(hostport), &s->tunnel_auth, why,
                                sizeof(why)) ||
        !config_parse_addr(hostport, CONFIG_ADDR_TARGET, proxy, why, sizeof(why))) {
        log_error("proxy", "%s/%s: %s", s->backend, s->address, why); /* checked at load */
        return &cfg->address;
    }
    s->tunnel_target = xstrdup(s->address);
    return proxy;
}

struct lb_server *lb_server_new(const struct lb_server_ctx *ctx, const struct config_server *cfg,
                                struct health *engine)
{
    struct lb_server *s = xcalloc(1, sizeof(*s));
    const char *backend = ctx->backend;
    char label[512];

    atomic_init(&s->refs, 1);
    atomic_flag_clear(&s->sa_lock);
    atomic_init(&s->agent_state, LB_AGENT_UNCHECKED);
    s->backend = xstrdup(backend);
    s->address = xstrdup(cfg->address.text);
    s->id = atomic_fetch_add(&next_id, 1);
    s->key_hash = net_hash(s->address, strlen(s->address), 0x6b336c62);
    atomic_store(&s->weight, cfg->weight);
    atomic_store(&s->backup, cfg->backup);
    atomic_store(&s->maxconn, cfg->maxconn);
    atomic_store(&s->slowstart_ms, ctx->slowstart_ms);
    atomic_store(&s->send_proxy, (int)cfg->send_proxy);
    snprintf(label, sizeof(label), "%s/%s", backend, s->address);
    struct net_addr proxy = {0};
    const struct net_addr *dial = dial_address(s, ctx, cfg, &proxy);
    if (engine) {
        struct health_endpoint ep = endpoint_of(s, ctx, cfg);
        s->health = health_target_new(engine, label, ctx->hc, &ep, s);
    }
    resolve(s, dial, ctx);
    config_addr_free(&proxy);
    return s;
}

void lb_server_configure(struct lb_server *s, const struct lb_server_ctx *ctx,
                         const struct config_server *cfg)
{
    if (!s->weight_pinned)
        atomic_store(&s->weight, cfg->weight);
    atomic_store(&s->backup, cfg->backup);
    atomic_store(&s->maxconn, cfg->maxconn);
    atomic_store(&s->slowstart_ms, ctx->slowstart_ms);
    atomic_store(&s->send_proxy, (int)cfg->send_proxy);
    if (s->health) {
        struct health_endpoint ep = endpoint_of(s, ctx, cfg);
        health_target_configure(s->health, ctx->hc, &ep);
    }
}

/* Frees a string holding credentials, wiped first. */
static void free_secret(char *secret)
{
    if (secret)
        explicit_bzero(secret, strlen(secret));
    free(secret);
}

bool lb_server_same_proxy(const struct lb_server *s, const char *proxy)
{
    return s->proxy_url ? proxy && strcmp(s->proxy_url, proxy) == 0 : !proxy;
}

struct lb_server *lb_server_ref(struct lb_server *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void lb_server_unref(struct lb_server *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    forget_lookup(s);
    if (s->health)
        health_target_free(s->health);
    free(s->backend);
    free(s->address);
    free(s->tunnel_target);
    free_secret(s->tunnel_auth);
    free_secret(s->proxy_url);
    free(s);
}

const char *lb_server_state_name(const struct lb_server *s)
{
    int admin = lb_server_admin(s);
    if (admin == LB_ADMIN_MAINT)
        return "maint";
    if (admin == LB_ADMIN_DRAIN)
        return "drain";
    return lb_server_up(s) ? "up" : "down";
}
