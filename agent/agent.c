/* k3lb agent: learned server lists and the state file.
 *
 * Sources each keep their own list; the learned list is their union in source order, and the
 * state file's list stands in until a live source has answered. A changed learned list goes to
 * the runtime (servers that left lose their connections, new ones are probed before they may
 * become ACTIVE) and to the state file, written atomically. */
#include "agent/agent-int.h"
#include "agent/answers.h"
#include "agent/list.h"
#include "common/xalloc.h"

#include "config/config.h"
#include "config/secret.h"
#include "config/value.h"
#include "tls/tls.h"
#include "tls/token.h"
#include "common/log.h"
#include "common/net.h"
#include "common/rand.h"
#include "health/health.h"
#include "lb/server.h"
#include "runtime/runtime.h"
#include "runtime/servers.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const source_names[] = {"state file", "static", "k3s", "dns", "admin API"};

/* ---- applying ------------------------------------------------------------------------------- */

/* Another balancer on the learned servers' hosts (etcd on 2379, the API servers of a
 * split-port cluster) gets the same hosts on its own port. */
void agent_apply_ported(struct agent *a, const char *backend, unsigned port)
{
    const char **hosts = xcalloc(a->applied.n + 1, sizeof(*hosts));
    char(*buf)[NET_ADDRSTRLEN] = xcalloc(a->applied.n + 1, sizeof(*buf));
    char err[256];
    for (size_t i = 0; i < a->applied.n; i++) {
        config_addr_with_port(a->applied.v[i], port, buf[i], sizeof(buf[i]));
        hosts[i] = buf[i];
    }
    if (runtime_set_servers(a->rt, backend, hosts, a->applied.n, err, sizeof(err)) < 0)
        log_warn("server_list", "%s list not applied: %s", backend, err);
    free(hosts);
    free(buf);
}

/* Recomputes the learned list; applies and saves it when it changed. */
static void apply(struct agent *a, enum agent_source why)
{
    struct agent_list next = {0};
    bool live = false;
    char err[256], text[1024];

    for (int s = SRC_STATIC; s < SRC_COUNT; s++)
        live = live || a->src[s].set;
    for (int s = live ? SRC_STATIC : SRC_STATE; s < SRC_COUNT; s++)
        for (size_t i = 0; i < a->src[s].n; i++)
            agent_list_add(&next, a->src[s].v[i]);
    if (agent_list_same_set(&next, &a->applied) && a->applied.set) {
        agent_list_clear(&next);
        return;
    }
    if (runtime_set_servers(a->rt, "servers", (const char *const *)next.v, next.n, err,
                            sizeof(err)) < 0) {
        log_warn("server_list", "not applied: %s", err);
        agent_list_clear(&next);
        return;
    }
    agent_list_clear(&a->applied);
    a->applied = next;
    a->applied.set = true;
    agent_refresh_soon(a, false); /* it moves: keep asking at the base period */
    agent_list_join(&next, text, sizeof(text));
    log_info("server_list", "learned servers (from %s): %s", source_names[why],
             next.n ? text : "none");
    if (a->etcd && !a->members.set)
        agent_apply_ported(a, "etcd", 2379); /* until /db/info has answered */
    if (a->ac->apiserver_port)
        agent_apply_ported(a, "apiservers", a->ac->apiserver_port);
    if (why != SRC_STATE && agent_state_save(a->ac->state_file, a->server_url, &a->applied) < 0)
        log_warn("state_file", "cannot write %s: %s", a->ac->state_file, strerror(errno));
}

void agent_set_source(struct agent *a, enum agent_source s, struct agent_list *l)
{
    agent_list_clear(&a->src[s]);
    a->src[s] = *l;
    a->src[s].set = true;
    apply(a, s);
}

/* ---- addresses ------------------------------------------------------------------------------ */

void agent_split_hostport(const char *hp, char *host, size_t hostlen, unsigned *port)
{
    const char *colon = strrchr(hp, ':');
    const char *h = hp;
    size_t n = (size_t)(colon - hp);
    if (h[0] == '[') {
        h++;
        n -= 2;
    }
    snprintf(host, hostlen, "%.*s", (int)n, h);
    *port = (unsigned)strtoul(colon + 1, NULL, 10);
}

/* ---- dns source ----------------------------------------------------------------------------- */

static void dns_done(int err, struct evutil_addrinfo *res, void *arg)
{
    struct agent *a = arg;
    struct agent_list l = {0};
    if (err) {
        log_warn("server_list", "resolving %s: %s", a->host, evutil_gai_strerror(err));
        return;
    }
    for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next) {
        char addr[NET_ADDRSTRLEN];
        net_format(ai->ai_addr, (socklen_t)ai->ai_addrlen, addr, sizeof(addr));
        agent_list_add(&l, addr);
    }
    evutil_freeaddrinfo(res);
    if (l.n)
        agent_set_source(a, SRC_DNS, &l);
}

static void dns_poll(struct agent *a)
{
    struct evutil_addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = EVUTIL_AI_ADDRCONFIG};
    evdns_getaddrinfo(a->dns, a->host, a->port, &hints, dns_done, a);
}

/* ---- life cycle ----------------------------------------------------------------------------- */

/* Every /v1-k3s/apiservers is a live list on the server (an EndpointSlice LIST and an etcd
 * read): while the answer stays the same the period doubles, from refresh up to 12 times it
 * (5 s -> 60 s by default), with +-10 % jitter so that many agents do not ask together. A
 * change, or a failover, brings it back to refresh at once. */
static void schedule(struct agent *a)
{
    uint64_t ms = a->refresh_cur_ms * (90 + rand_next(&a->rng) % 21) / 100;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(a->tick, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    uint64_t cap = a->ac->refresh_ms * REFRESH_BACKOFF_MAX;
    (void)fd;
    (void)what;
    if (a->want_k3s)
        agent_k3s_poll(a);
    if (a->want_dns)
        dns_poll(a);
    schedule(a);
    a->refresh_cur_ms = a->refresh_cur_ms * 2 < cap ? a->refresh_cur_ms * 2 : cap;
}

/* /db/info, every agent.etcd_refresh. */
static void on_etcd_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    agent_members_poll(arg);
}

/* Asks again now and from now on at the base period. */
void agent_refresh_soon(struct agent *a, bool now)
{
    a->refresh_cur_ms = a->ac->refresh_ms;
    if (!a->tick)
        return;
    evtimer_del(a->tick);
    if (now)
        event_active(a->tick, EV_TIMEOUT, 0);
    else
        schedule(a);
}

/* The sticky ACTIVE server changed: the list may have changed too (a server gone). */
static void on_failover(void *arg, const char *backend)
{
    struct agent *a = arg;
    if (strcmp(backend, "servers") == 0)
        agent_refresh_soon(a, true);
}

static void read_token(struct agent *a)
{
    char why[320];
    char *token;
    if (!a->ac->token_file && !a->ac->token_env)
        return;
    token = config_secret_read(a->ac->token_file, a->ac->token_env, "k3s token", why, sizeof(why));
    if (!token) {
        log_warn("agent", "%s", why);
        return;
    }
    if (tls_k3s_token_parse(token, &a->token, why, sizeof(why)) == 0)
        a->has_token = true;
    else
        log_warn("agent", "%s", why);
    config_secret_free(token);
}

static void start_sources(struct agent *a)
{
    const struct config_agent *ac = a->ac;
    char addr[NET_ADDRSTRLEN];
    for (size_t i = 0; i < ac->n_servers_from; i++) {
        const char *s = ac->servers_from[i];
        if (strcmp(s, "k3s") == 0) {
            a->want_k3s = true;
        } else if (strcmp(s, "dns") == 0) {
            a->want_dns = true;
        } else if (strncmp(s, "static:", 7) == 0) {
            struct agent_list l = {0};
            char *copy = xstrdup(s + 7), *save = NULL;
            for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                if (agent_valid_address(tok, addr, sizeof(addr)))
                    agent_list_add(&l, addr);
                else
                    log_warn("server_list", "static: '%s' is not host:port; skipped", tok);
            free(copy);
            agent_set_source(a, SRC_STATIC, &l);
        }
    }
    if (ac->n_servers_from == 0 && a->has_token)
        a->want_k3s = true; /* the default when there is a token */
    if (a->want_k3s && !a->has_token) {
        log_warn("server_list", "servers_from k3s needs the K3s token; not polling");
        a->want_k3s = false;
    }
}

/* The etcd balancer follows /db/info when the token can ask it (K3s's etcd proxy asks every
 * 30 s); with any other token it follows the learned servers' hosts on 2379. */
static void start_members(struct agent *a)
{
    struct timeval tv = {(time_t)(a->ac->etcd_refresh_ms / 1000),
                         (suseconds_t)(a->ac->etcd_refresh_ms % 1000) * 1000};
    if (!a->etcd)
        return;
    if (!a->want_k3s || !a->token.server_authorization) {
        a->dbinfo_off = true;
        log_info("etcd_members", "etcd members are the servers' hosts on port 2379 (/db/info "
                                 "needs the server token, K10...::server:...)");
        return;
    }
    a->etcd_tick = event_new(a->base, -1, EV_PERSIST, on_etcd_tick, a);
    evtimer_add(a->etcd_tick, &tv);
    a->dbinfo_due = true; /* the first time right after the first answer */
}

/* Through a proxy, the agent's requests go to its own first listener (loopback when it
 * listens on every address), and are verified against that name, as K3s's agent's requests
 * to https://127.0.0.1:6444 are (K3s's server certificates carry 127.0.0.1). */
static void set_via(struct agent *a, const struct config *cfg)
{
    char hostport[NET_ADDRSTRLEN], why[300], *auth = NULL;
    const struct net_addr *l;
    if (!a->ac->http_proxy || cfg->n_frontends == 0 || cfg->frontends[0].n_listen == 0)
        return;
    l = &cfg->frontends[0].listen[0];
    if (config_addr_is_wildcard(l))
        snprintf(a->via, sizeof(a->via), "127.0.0.1:%u", l->port);
    else
        snprintf(a->via, sizeof(a->via), "%s", l->text);
    if (config_parse_proxy_url(a->ac->http_proxy, hostport, sizeof(hostport), &auth, why,
                               sizeof(why)))
        log_info("proxy",
                 "servers are reached through the HTTP proxy %s%s; the agent's own requests go "
                 "through its listener %s",
                 hostport, auth ? " (with credentials)" : "", a->via);
    free(auth);
}

struct agent *agent_new(struct event_base *base, struct runtime *rt, struct config *cfg)
{
    struct agent *a = xcalloc(1, sizeof(*a));
    char why[256];
    unsigned port;

    a->base = base;
    a->rt = rt;
    a->cfg = config_ref(cfg);
    a->ac = &cfg->agent;
    config_parse_server_url(a->ac->server, a->default_addr, sizeof(a->default_addr), why,
                            sizeof(why));
    snprintf(a->server_url, sizeof(a->server_url), "https://%s", a->default_addr);
    agent_split_hostport(a->default_addr, a->host, sizeof(a->host), &port);
    snprintf(a->port, sizeof(a->port), "%u", port);
    for (size_t i = 0; i < cfg->n_backends; i++)
        a->etcd = a->etcd || strcmp(cfg->backends[i].name, "etcd") == 0;
    a->dns = runtime_dns(rt);
    set_via(a, cfg);
    read_token(a);
    a->insecure = tls_ctx_insecure();
    agent_state_load(a->ac->state_file, a->server_url, &a->src[SRC_STATE]);
    if (a->src[SRC_STATE].set)
        apply(a, SRC_STATE);
    a->settle = evtimer_new(base, agent_on_settled, a);
    start_sources(a);
    a->tick = evtimer_new(base, on_tick, a);
    a->rng = rand_seed((uint64_t)(uintptr_t)a);
    a->refresh_cur_ms = a->ac->refresh_ms;
    event_active(a->tick, EV_TIMEOUT, 0); /* first poll now */
    runtime_watch_active(rt, on_failover, a);
    start_members(a);
    log_info("agent", "fixed address %s; sources:%s%s%s%s", a->default_addr,
             a->want_k3s ? " k3s" : "", a->want_dns ? " dns" : "",
             a->src[SRC_STATIC].set ? " static" : "", " admin-API");
    return a;
}

int agent_put_servers(struct agent *a, const char *const *addresses, size_t n, char *err,
                      size_t errlen)
{
    struct agent_list l = {0};
    char addr[NET_ADDRSTRLEN];
    for (size_t i = 0; i < n; i++) {
        if (!agent_valid_address(addresses[i], addr, sizeof(addr))) {
            snprintf(err, errlen, "'%s' is not host:port", addresses[i]);
            agent_list_clear(&l);
            return -1;
        }
        agent_list_add(&l, addr);
    }
    agent_set_source(a, SRC_API, &l);
    return 0;
}

void agent_free(struct agent *a)
{
    if (!a)
        return;
    runtime_watch_active(a->rt, NULL, NULL);
    if (a->tick)
        event_free(a->tick);
    if (a->etcd_tick)
        event_free(a->etcd_tick);
    if (a->settle)
        event_free(a->settle);
    if (a->k3s_conn) {
        evhttp_connection_free(a->k3s_conn); /* drops the request without calling back */
        free(a->k3s_call);
    }
    if (a->k3s_used)
        evhttp_connection_free(a->k3s_used);
    for (int s = 0; s < SRC_COUNT; s++)
        agent_list_clear(&a->src[s]);
    agent_list_clear(&a->applied);
    agent_list_clear(&a->members);
    agent_list_clear(&a->settling);
    tls_k3s_token_free(&a->token);
    if (a->insecure)
        SSL_CTX_free(a->insecure);
    if (a->pinned)
        SSL_CTX_free(a->pinned);
    config_unref(a->cfg);
    free(a);
}
