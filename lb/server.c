/* Live server objects. Created and freed on the main thread; workers only touch atomics. */
#include "lb/server.h"
#include "common/xalloc.h"

#include "config/config-t.h"
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

/* A host-name lookup in flight. It outlives its server when the server goes first: the server
 * is then cleared here and the answer dropped. */
struct lb_dns_ticket {
    struct lb_server *server;              /* NULL once the server is gone */
    struct evdns_base *dns;                /* where to ask */
    struct evdns_getaddrinfo_request *req; /* the lookup, while one runs */
    struct event *retry;                   /* next attempt after a failure */
    char host[256];                        /* what to look up */
    char port[8];
    bool warned; /* a failure was logged already */
};

#define DNS_RETRY_MS 5000

static void publish_address(struct lb_server *s, const struct sockaddr *sa, socklen_t len)
{
    memcpy(&s->sa.u.ss, sa, len);
    s->sa.len = len;
    atomic_store_explicit(&s->resolved, true, memory_order_release); /* after sa, for workers */
    if (s->health)
        health_target_set_addr(s->health, &s->sa);
}

static void dns_ask(struct lb_dns_ticket *t);

static void dns_answer(int err, struct evutil_addrinfo *res, void *arg)
{
    struct lb_dns_ticket *t = arg;
    struct timeval tv = {DNS_RETRY_MS / 1000, 0};
    t->req = NULL;
    if (!t->server) { /* the server went away while we asked */
        if (res)
            evutil_freeaddrinfo(res);
        event_free(t->retry);
        free(t);
        return;
    }
    if (err == 0 && res) {
        char text[NET_ADDRSTRLEN];
        publish_address(t->server, res->ai_addr, (socklen_t)res->ai_addrlen);
        net_format(res->ai_addr, (socklen_t)res->ai_addrlen, text, sizeof(text));
        log_info("server_resolved", "%s/%s is %s", t->server->backend, t->server->address, text);
        evutil_freeaddrinfo(res);
        t->server->dns = NULL;
        event_free(t->retry);
        free(t);
        return;
    }
    if (!t->warned)
        log_warn("server_unresolved",
                 "%s/%s: cannot resolve: %s; out of rotation, asking again "
                 "every %d s",
                 t->server->backend, t->server->address, evutil_gai_strerror(err),
                 DNS_RETRY_MS / 1000);
    t->warned = true;
    evtimer_add(t->retry, &tv);
}

static void dns_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dns_ask(arg);
}

static void dns_ask(struct lb_dns_ticket *t)
{
    struct evutil_addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = EVUTIL_AI_NUMERICSERV};
    struct evdns_getaddrinfo_request *req;
    /* An answer known at once (/etc/hosts, a bad name) comes back inside this call, which then
     * returns NULL and the ticket may be gone: t is touched only when the lookup is pending. */
    req = evdns_getaddrinfo(t->dns, t->host, t->port, &hints, dns_answer, t);
    if (req)
        t->req = req;
}

/* A literal address is known at once; a host name is looked up without blocking (or, with no
 * resolver given, as tests do, with getaddrinfo). Until then the server takes no traffic. */
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
    snprintf(t->host, sizeof(t->host), "%s", a->host);
    snprintf(t->port, sizeof(t->port), "%u", a->port);
    t->retry = evtimer_new(ctx->base, dns_retry_cb, t);
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
        event_free(t->retry);
        free(t);
    }
}

static struct health_endpoint endpoint_of(const struct lb_server *s,
                                          const struct lb_server_ctx *ctx,
                                          const struct config_server *cfg)
{
    return (struct health_endpoint){&s->sa,      cfg->address.host,   ctx->sans,
                                    ctx->n_sans, ctx->sticky ? 1 : 0, ctx->added};
}

struct lb_server *lb_server_new(const struct lb_server_ctx *ctx, const struct config_server *cfg,
                                struct health *engine)
{
    struct lb_server *s = xcalloc(1, sizeof(*s));
    const char *backend = ctx->backend;
    char label[512];

    atomic_init(&s->refs, 1);
    atomic_init(&s->agent_state, LB_AGENT_UNCHECKED);
    s->backend = xstrdup(backend);
    s->address = xstrdup(cfg->address.text);
    s->id = atomic_fetch_add(&next_id, 1);
    s->key_hash = net_hash(s->address, strlen(s->address), 0x6b336c62);
    atomic_store(&s->weight, cfg->weight);
    atomic_store(&s->backup, cfg->backup);
    snprintf(label, sizeof(label), "%s/%s", backend, s->address);
    if (engine) {
        struct health_endpoint ep = endpoint_of(s, ctx, cfg);
        s->health = health_target_new(engine, label, ctx->hc, &ep, s);
    }
    resolve(s, &cfg->address, ctx);
    return s;
}

void lb_server_configure(struct lb_server *s, const struct lb_server_ctx *ctx,
                         const struct config_server *cfg)
{
    if (!s->weight_pinned)
        atomic_store(&s->weight, cfg->weight);
    atomic_store(&s->backup, cfg->backup);
    if (s->health) {
        struct health_endpoint ep = endpoint_of(s, ctx, cfg);
        health_target_configure(s->health, ctx->hc, &ep);
    }
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
    free(s);
}

const char *lb_server_state_name(const struct lb_server *s)
{
    int admin = atomic_load(&s->admin);
    if (admin == LB_ADMIN_MAINT)
        return "maint";
    if (admin == LB_ADMIN_DRAIN)
        return "drain";
    return lb_server_up(s) ? "up" : "down";
}
