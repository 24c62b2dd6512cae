/* k3lb agent's supervisor client: the K3s supervisor as a source of the server list, asked as
 * K3s's agent asks it. /cacerts first (the CA decided as tls_k3s_trust decides it), then
 * /v1-<program>/config once (the ports, and what a K3s agent pointed at k3lb would dial), then
 * /v1-<program>/apiservers every refresh over one kept-alive connection to the ACTIVE server,
 * and /db/info for the etcd balancer. */
#include "agent/agent-int.h"
#include "agent/answers.h"
#include "common/xalloc.h"

#include "config/keys.h"
#include "config/value.h"
#include "tls/tls.h"
#include "common/log.h"
#include "health/health.h"
#include "lb/server.h"
#include "runtime/runtime.h"
#include "runtime/servers.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the list: /v1-k3s/apiservers ----------------------------------------- */

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
        agent_set_source(a, SRC_K3S, &l);
        return;
    }
    if (a->settling.n && agent_list_same_set(&l, &a->settling)) {
        agent_list_clear(&l); /* the same change again: it goes on standing */
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

void agent_on_settled(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    struct agent_list l = a->settling;
    (void)fd;
    (void)what;
    memset(&a->settling, 0, sizeof(a->settling));
    agent_set_source(a, SRC_K3S, &l);
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
    agent_split_hostport(target, host, sizeof(host), &port);
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
    if (runtime_set_servers(a->rt, "etcd", (const char *const *)l.v, l.n, err, sizeof(err)) < 0) {
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
        agent_apply_ported(a, "etcd", 2379);
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
        log_warn("split_ports",
                 "%s: the API servers listen on port %d, not %u: set "
                 "--apiserver-port %d",
                 target, https, a->ac->apiserver_port, https);
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
        struct lb_server *s = runtime_server(a->rt, "servers", target);
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
    agent_split_hostport(target, host, sizeof(host), &port);
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
    if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, k3s_path(a, what, path, sizeof(path))) < 0) {
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
    const char *active = runtime_sticky_active(a->rt, "servers");
    if (a->via[0])
        return a->via;
    return active ? active : a->default_addr;
}

void agent_k3s_poll(struct agent *a)
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

/* /db/info on the ACTIVE server (else the fixed address), once the CA is pinned and the ports
 * known; when another request is in flight, right after it. */
void agent_members_poll(struct agent *a)
{
    a->dbinfo_due = false;
    if (a->dbinfo_off)
        return;
    if (a->k3s_conn || !a->pinned || !a->ports_checked) {
        a->dbinfo_due = a->k3s_conn != NULL; /* else the next period asks */
        return;
    }
    k3s_request(a, k3s_target(a), K3S_DBINFO);
}
