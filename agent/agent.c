/* k3lb agent: learned server lists and the state file.
 *
 * Sources each keep their own list; the learned list is their union in source order, and the
 * state file's list stands in until a live source has answered. A changed learned list goes to
 * the runtime (servers that left lose their connections, new ones are probed before they may
 * become ACTIVE) and to the state file, written atomically. */
#include "agent/agent.h"
#include "agent/answers.h"
#include "agent/list.h"
#include "common/xalloc.h"

#include "config/config.h"
#include "config/keys.h"
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

enum agent_source {
    SRC_STATE = 0, /* the state file, until a live source answers */
    SRC_STATIC,    /* servers_from: static:A,B */
    SRC_K3S,       /* the supervisor's /v1-k3s/apiservers */
    SRC_DNS,       /* the fixed address's A/AAAA records */
    SRC_API,       /* PUT /servers */
    SRC_COUNT,
};

static const char *const source_names[] = {"state file", "static", "k3s", "dns", "admin API"};

/* The refresh period grows to this many times agent.refresh while the list stays the same. */
#define REFRESH_BACKOFF_MAX 12
/* A changed list from the servers is applied once it has stood this long, as K3s's agent lets
 * a changed EndpointSlice settle before it moves its balancer and tunnels (endpointDebounceDelay,
 * pkg/agent/tunnel/tunnel.go:47 at 866d743e): a rolling restart changes it several times. */
#define SETTLE_MS 3000

struct k3s_call;

struct agent {
    struct event_base *base;
    struct lb_runtime *rt;
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

static void refresh_soon(struct agent *a, bool now);

/* ---- applying ------------------------------------------------------------------------------- */

/* Another balancer on the learned servers' hosts (etcd on 2379, the API servers of a
 * split-port cluster) gets the same hosts on its own port. */
static void apply_ported(struct agent *a, const char *backend, unsigned port)
{
    const char **hosts = xcalloc(a->applied.n + 1, sizeof(*hosts));
    char(*buf)[NET_ADDRSTRLEN] = xcalloc(a->applied.n + 1, sizeof(*buf));
    char err[256];
    for (size_t i = 0; i < a->applied.n; i++) {
        config_addr_with_port(a->applied.v[i], port, buf[i], sizeof(buf[i]));
        hosts[i] = buf[i];
    }
    if (lb_runtime_set_servers(a->rt, backend, hosts, a->applied.n, err, sizeof(err)) < 0)
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
    if (lb_runtime_set_servers(a->rt, "servers", (const char *const *)next.v, next.n, err,
                               sizeof(err)) < 0) {
        log_warn("server_list", "not applied: %s", err);
        agent_list_clear(&next);
        return;
    }
    agent_list_clear(&a->applied);
    a->applied = next;
    a->applied.set = true;
    refresh_soon(a, false); /* it moves: keep asking at the base period */
    agent_list_join(&next, text, sizeof(text));
    log_info("server_list", "learned servers (from %s): %s", source_names[why],
             next.n ? text : "none");
    if (a->etcd && !a->members.set)
        apply_ported(a, "etcd", 2379); /* until /db/info has answered */
    if (a->ac->apiserver_port)
        apply_ported(a, "apiservers", a->ac->apiserver_port);
    if (why != SRC_STATE && agent_state_save(a->ac->state_file, a->server_url, &a->applied) < 0)
        log_warn("state_file", "cannot write %s: %s", a->ac->state_file, strerror(errno));
}

static void set_source(struct agent *a, enum agent_source s, struct agent_list *l)
{
    agent_list_clear(&a->src[s]);
    a->src[s] = *l;
    a->src[s].set = true;
    apply(a, s);
}

/* ---- k3s source: the supervisor's /v1-k3s/apiservers ----------------------------------------- */

enum k3s_what { K3S_CACERTS = 0, K3S_APISERVERS, K3S_CONFIG, K3S_DBINFO };
/* What follows /v1-<program> in the supervisor's routes, or the whole path of the others. */
static const char *const k3s_paths[] = {"/cacerts", "/apiservers", "/config", "/db/info"};

/* The path of a request: the supervisor's routes under /v1-<program> (RKE2: /v1-rke2). */
static const char *k3s_path(const struct agent *a, enum k3s_what what, char *buf, size_t len)
{
    bool supervisor = what == K3S_APISERVERS || what == K3S_CONFIG;
    snprintf(buf, len, "%s%s%s", supervisor ? "/v1-" : "",
             supervisor ? config_program_names[a->ac->program] : "", k3s_paths[what]);
    return buf;
}

struct k3s_call {
    SSL_CTX *ctx; /* the context its connection was opened with */
    struct agent *a;
    char target[300];
    enum k3s_what what; /* which path this call fetches */
};

static void split_hostport(const char *hp, char *host, size_t hostlen, unsigned *port)
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

static void k3s_answer(struct agent *a, const char *target, const char *body, size_t len)
{
    struct agent_list l = {0};
    /* Where the supervisor listens on a port of its own (RKE2: 9345 beside 6443), the
     * supervisor balancer gets the API servers' hosts on the fixed address's port. */
    unsigned rewrite = a->ac->apiserver_port ? (unsigned)atoi(a->port) : 0;
    if (agent_parse_apiservers(body, len, rewrite, &l) < 0) {
        log_warn("server_list", "%s: /v1-k3s/apiservers did not answer a JSON list", target);
        return;
    }
    if (l.n == 0) {
        log_warn("server_list", "%s: /v1-k3s/apiservers listed no server; keeping the list",
                 target);
        return;
    }
    if (!a->src[SRC_K3S].set) { /* the first list: at once, as K3s's agent at its start */
        set_source(a, SRC_K3S, &l);
        return;
    }
    evtimer_del(a->settle);
    agent_list_clear(&a->settling);
    if (agent_list_same_set(&l, &a->src[SRC_K3S])) {
        agent_list_clear(&l); /* it changed back: nothing to apply */
        return;
    }
    a->settling = l;
    struct timeval tv = {SETTLE_MS / 1000, (SETTLE_MS % 1000) * 1000};
    evtimer_add(a->settle, &tv);
}

static void on_settled(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    struct agent_list l = a->settling;
    (void)fd;
    (void)what;
    memset(&a->settling, 0, sizeof(a->settling));
    set_source(a, SRC_K3S, &l);
}

/* The CA the supervisor requests trust from now on, decided from /cacerts as K3s's agent
 * decides it (tls_k3s_trust); each way but the token's hash matching is said once. */
static bool k3s_pin(struct agent *a, struct evhttp_connection *conn, const char *target,
                    const char *body, size_t len)
{
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    char host[256], err[320];
    unsigned port;
    enum tls_k3s_trusted how;
    split_hostport(target, host, sizeof(host), &port);
    a->pinned = tls_k3s_trust(ssl, host, body, len, a->token.ca_hash, &how, err, sizeof(err));
    if (!a->pinned) {
        log_warn("server_list", "%s: %s; not trusted", target, err);
        return false;
    }
    if (how == TLS_K3S_SYSTEM && a->token.ca_hash)
        log_warn("server_ca",
                 "%s: the server's certificate is trusted by the system's CA store, so the "
                 "token's CA hash is not compared (as K3s's agent does)",
                 target);
    else if (how == TLS_K3S_UNVERIFIED)
        log_warn("server_ca",
                 "%s: the token has no CA hash, so the CA the server sent is trusted unchecked: "
                 "use the full token (K10<hash>::...) from the server's token file",
                 target);
    return true;
}

/* ---- etcd members: /db/info, as K3s's etcd proxy follows them ---------------------------- */

/* The answer of /db/info: every voting member's client URLs (learners are left out, as K3s
 * leaves them out of its client list) become the etcd balancer's servers. */
static void k3s_members(struct agent *a, const char *target, const char *body, size_t len)
{
    struct agent_list l = {0};
    char err[256], text[1024];
    agent_parse_members(body, len, &l);
    if (l.n == 0) {
        log_warn("etcd_members", "%s: /db/info listed no voting member; keeping the list", target);
        return;
    }
    if (a->members.set && agent_list_same_set(&l, &a->members)) {
        agent_list_clear(&l);
        return;
    }
    if (lb_runtime_set_servers(a->rt, "etcd", (const char *const *)l.v, l.n, err, sizeof(err)) <
        0) {
        log_warn("etcd_members", "not applied: %s", err);
        agent_list_clear(&l);
        return;
    }
    agent_list_join(&l, text, sizeof(text));
    log_info("etcd_members", "etcd members (from %s /db/info): %s", target, text);
    agent_list_clear(&a->members);
    a->members = l;
    a->members.set = true;
}

/* /db/info refused (the token is not a server token after all): the etcd balancer keeps
 * following the learned servers' hosts on 2379. Said once. */
static void k3s_members_refused(struct agent *a, const char *target, int code)
{
    a->dbinfo_off = true;
    log_warn("etcd_members",
             "%s: /db/info answered %d (it needs the server token, K10...::server:...): etcd "
             "members are the servers' hosts on port 2379",
             target, code);
    if (a->members.set) {
        agent_list_clear(&a->members);
        apply_ported(a, "etcd", 2379);
    }
}

/* The port of every listener of a frontend, or 0 when it has none or they differ. */
static unsigned front_port(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_frontends; i++) {
        const struct config_frontend *f = &cfg->frontends[i];
        unsigned port = f->n_listen ? f->listen[0].port : 0;
        if (strcmp(f->name, name) != 0)
            continue;
        for (size_t j = 1; j < f->n_listen; j++)
            if (f->listen[j].port != port)
                return 0;
        return port;
    }
    return 0;
}

/* /v1-k3s/config says on which ports the server runs its supervisor and its API server. When
 * they differ (RKE2, --supervisor-port), a K3s agent pointed at k3lb gives every server it
 * learns the port of its --server URL for its tunnels, and with --disable-apiserver-lb asks its
 * API servers on the --server host at the API port (pkg/agent/proxy/apiproxy.go, Update and
 * SetAPIServerPort): k3lb's listeners must sit on those ports, and it says which when not. */
static void k3s_ports(struct agent *a, const char *target, const char *body, size_t len)
{
    int sup, https;
    unsigned listen = front_port(a->cfg, "agent"), api = front_port(a->cfg, "apiserver");
    if (agent_parse_ports(body, len, &sup, &https) < 0)
        return;
    log_info("split_ports", "%s: supervisor port %d, API server port %d%s", target, sup, https,
             sup != https && a->ac->apiserver_port ? ": a balancer for each" : "");
    if (sup == https) {
        if (a->ac->apiserver_port)
            log_warn("split_ports", "%s: the ports are the same: --apiserver-port is not needed",
                     target);
        return;
    }
    if (listen && listen != (unsigned)sup)
        log_warn("split_ports",
                 "%s: a K3s agent pointed at this listener (port %u) gives every server it "
                 "learns port %u for its tunnels, where the servers do not listen: listen on "
                 "their supervisor port (--listen 127.0.0.1:%d)",
                 target, listen, listen, sup);
    if (a->ac->program == CONFIG_PROGRAM_RKE2) {
        if (a->ac->apiserver_port)
            log_warn("split_ports",
                     "%s: RKE2's agent always runs balancers of its own, the API servers' on "
                     "its balancer port - 1 (6443): k3lb serves it as the registration address "
                     "only; leave --apiserver-port unset",
                     target);
        return;
    }
    if (!a->ac->apiserver_port)
        log_warn("split_ports",
                 "%s: a K3s agent with --disable-apiserver-lb asks its API servers at "
                 "127.0.0.1:%d: set --apiserver-port %d",
                 target, https, https);
    else if (a->ac->apiserver_port != (unsigned)https)
        log_warn("split_ports", "%s: the API servers listen on port %d, not %u: set "
                 "--apiserver-port %d", target, https, a->ac->apiserver_port, https);
    else if (api && api != (unsigned)https)
        log_warn("split_ports",
                 "%s: a K3s agent with --disable-apiserver-lb asks its API servers at port %d of "
                 "its --server host, not %u: --apiserver-listen 127.0.0.1:%d",
                 target, https, api, https);
}

static void k3s_done(struct evhttp_request *req, void *arg)
{
    struct k3s_call *call = arg;
    struct agent *a = call->a;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    struct evbuffer *in = req ? evhttp_request_get_input_buffer(req) : NULL;
    size_t len = in ? evbuffer_get_length(in) : 0;
    char *body = len ? (char *)evbuffer_pullup(in, (ssize_t)len) : "";
    char target[300], path[64];

    snprintf(target, sizeof(target), "%s", call->target);
    a->k3s_used = a->k3s_conn; /* not freed inside its own callback: by the next request */
    a->k3s_conn = NULL;
    a->k3s_call = NULL;
    const char *conn_hdr =
        req ? evhttp_find_header(evhttp_request_get_input_headers(req), "Connection") : NULL;
    snprintf(a->used_target, sizeof(a->used_target), "%s", call->target);
    a->used_ctx = call->ctx;
    a->used_alive = code == 200 && call->what != K3S_CACERTS &&
                    !(conn_hdr && strcasecmp(conn_hdr, "close") == 0);
    if (a->used_alive) /* idle until the longest refresh period: kept, not timed out */
        evhttp_connection_set_timeout(a->k3s_used,
                                      (int)(a->ac->refresh_ms * REFRESH_BACKOFF_MAX / 1000 + 10));
    if (call->what == K3S_CONFIG)
        a->ports_checked = true; /* asked once, answered or not */
    if (code == 200 && call->what != K3S_CACERTS) {
        /* as good as a probe of that server: its next probe waits an interval */
        struct lb_server *s = lb_runtime_server(a->rt, "servers", target);
        if (s && s->health)
            health_target_answered(s->health);
    }
    if (call->what == K3S_DBINFO && (code == 401 || code == 403)) {
        k3s_members_refused(a, target, code);
    } else if (code != 200) {
        log_warn(call->what == K3S_DBINFO ? "etcd_members" : "server_list", "%s: %s answered %d",
                 target, k3s_path(a, call->what, path, sizeof(path)), code);
    } else if (call->what == K3S_DBINFO) {
        k3s_members(a, target, body, len);
    } else if (call->what == K3S_CONFIG) {
        k3s_ports(a, target, body, len);
        event_active(a->tick, EV_TIMEOUT, 0); /* now the list, once this returns */
    } else if (call->what == K3S_CACERTS) {
        if (k3s_pin(a, a->k3s_used, target, body, len))
            event_active(a->tick, EV_TIMEOUT, 0); /* ask again, now pinned, once this returns */
    } else {
        k3s_answer(a, target, body, len);
    }
    free(call);
    if (a->dbinfo_due) /* the members were due while this one was in flight */
        event_active(a->etcd_tick, EV_TIMEOUT, 0);
}

/* A kept connection closed (the server's idle timeout): it must not be reused, since a TLS
 * session cannot be connected again; the next request opens a new one. */
static void k3s_closed(struct evhttp_connection *conn, void *arg)
{
    struct agent *a = arg;
    if (conn == a->k3s_used)
        a->used_alive = false;
}

/* A new TLS connection to host:port, or NULL. */
static struct evhttp_connection *k3s_connect(struct agent *a, const char *host, unsigned port,
                                             SSL_CTX *ctx, bool verify)
{
    SSL *ssl = tls_new(ctx, host, verify);
    struct bufferevent *bev =
        ssl ? bufferevent_openssl_socket_new(a->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
            : NULL;
    struct evhttp_connection *conn;
    if (!bev) {
        if (ssl)
            SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    conn = evhttp_connection_base_bufferevent_new(a->base, a->dns, bev, host, (uint16_t)port);
    evhttp_connection_set_closecb(conn, k3s_closed, a);
    return conn;
}

static void k3s_request(struct agent *a, const char *target, enum k3s_what what)
{
    struct k3s_call *call = xcalloc(1, sizeof(*call));
    bool cacerts = what == K3S_CACERTS;
    SSL_CTX *ctx = cacerts ? a->insecure : a->pinned;
    char host[256], path[64];
    unsigned port;
    struct evhttp_connection *conn;
    struct evhttp_request *req;

    call->a = a;
    call->ctx = ctx;
    call->what = what;
    snprintf(call->target, sizeof(call->target), "%s", target);
    split_hostport(target, host, sizeof(host), &port);
    if (a->k3s_used && a->used_alive && a->used_ctx == ctx && strcmp(a->used_target, target) == 0) {
        conn = a->k3s_used; /* kept alive: the same TLS session carries this request too */
    } else {
        if (a->k3s_used)
            evhttp_connection_free(a->k3s_used);
        conn = k3s_connect(a, host, port, ctx, !cacerts);
    }
    a->k3s_used = NULL;
    if (!conn) {
        free(call);
        return;
    }
    evhttp_connection_set_timeout(conn,
                                  (int)(a->ac->refresh_ms / 1000 ? a->ac->refresh_ms / 1000 : 1));
    req = evhttp_request_new(k3s_done, call);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
    evhttp_add_header(evhttp_request_get_output_headers(req), "User-Agent", "k3lb-agent");
    if (cacerts) /* the next request uses the pinned context: this connection will not serve */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    else /* /db/info is a k3s:server route: the server token's own user */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization",
                          what == K3S_DBINFO ? a->token.server_authorization
                                             : a->token.authorization);
    if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, k3s_path(a, what, path, sizeof(path))) <
        0) {
        evhttp_connection_free(conn);
        free(call);
        return;
    }
    a->k3s_conn = conn;
    a->k3s_call = call;
}

/* Where the next request goes: the ACTIVE server (it is known to work), else the fixed
 * address; through a proxy, the agent's own listener (only the data path can tunnel). */
static const char *k3s_target(struct agent *a)
{
    const char *active = lb_runtime_sticky_active(a->rt, "servers");
    if (a->via[0])
        return a->via;
    return active ? active : a->default_addr;
}

static void k3s_poll(struct agent *a)
{
    const char *target = k3s_target(a);
    if (a->k3s_conn)
        return;
    if (!a->pinned)
        k3s_request(a, target, K3S_CACERTS);
    else if (!a->ports_checked)
        k3s_request(a, target, K3S_CONFIG);
    else
        k3s_request(a, target, K3S_APISERVERS);
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
        set_source(a, SRC_DNS, &l);
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
        k3s_poll(a);
    if (a->want_dns)
        dns_poll(a);
    schedule(a);
    a->refresh_cur_ms = a->refresh_cur_ms * 2 < cap ? a->refresh_cur_ms * 2 : cap;
}

/* /db/info on the ACTIVE server (else the fixed address), once the CA is pinned and the ports
 * known; when another request is in flight, right after it. */
static void on_etcd_tick(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    (void)fd;
    (void)what;
    a->dbinfo_due = false;
    if (a->dbinfo_off)
        return;
    if (a->k3s_conn || !a->pinned || !a->ports_checked) {
        a->dbinfo_due = a->k3s_conn != NULL; /* else the next period asks */
        return;
    }
    k3s_request(a, k3s_target(a), K3S_DBINFO);
}

/* Asks again now and from now on at the base period. */
static void refresh_soon(struct agent *a, bool now)
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
        refresh_soon(a, true);
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
            set_source(a, SRC_STATIC, &l);
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

struct agent *agent_new(struct event_base *base, struct lb_runtime *rt, struct config *cfg)
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
    split_hostport(a->default_addr, a->host, sizeof(a->host), &port);
    snprintf(a->port, sizeof(a->port), "%u", port);
    for (size_t i = 0; i < cfg->n_backends; i++)
        a->etcd = a->etcd || strcmp(cfg->backends[i].name, "etcd") == 0;
    a->dns = lb_runtime_dns(rt);
    set_via(a, cfg);
    read_token(a);
    a->insecure = tls_ctx_insecure();
    agent_state_load(a->ac->state_file, a->server_url, &a->src[SRC_STATE]);
    if (a->src[SRC_STATE].set)
        apply(a, SRC_STATE);
    a->settle = evtimer_new(base, on_settled, a);
    start_sources(a);
    a->tick = evtimer_new(base, on_tick, a);
    a->rng = rand_seed((uint64_t)(uintptr_t)a);
    a->refresh_cur_ms = a->ac->refresh_ms;
    event_active(a->tick, EV_TIMEOUT, 0); /* first poll now */
    lb_runtime_watch_active(rt, on_failover, a);
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
    set_source(a, SRC_API, &l);
    return 0;
}

void agent_free(struct agent *a)
{
    if (!a)
        return;
    lb_runtime_watch_active(a->rt, NULL, NULL);
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
