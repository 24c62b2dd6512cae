/* Agent mode: `k3lb agent` is configured by one `agent:` section (from flags, env or a file);
 * this turns it into the frontends and backends the balancer runs, on the node tree, so that
 * every value keeps its position for error messages:
 *
 *   frontends: [{name: agent, listen: <agent.listen>, backend: servers},
 *               {name: apiserver, listen: <agent.apiserver_listen>, backend: apiservers}, (*)
 *               {name: etcd, listen: [<agent.etcd_listen>], backend: etcd}]      (if set)
 *   backends:  [{name: servers, balance: sticky, connect_timeout: <agent.dial_timeout>,
 *                servers: [<host:port of agent.server>], health: <agent.health>},
 *               {name: apiservers, balance: sticky, servers: [<host>:<apiserver_port>],
 *                health: tcp},                                                   (*)
 *               {name: etcd, balance: sticky, servers: [<host>:2379], health: tcp}] (if set;
 *                the agent replaces the servers with /db/info's members when it may ask)
 * (*) with agent.apiserver_port: the supervisor and the API servers on different ports, as on
 * RKE2 (9345 and 6443).
 *
 * The listeners sit where a K3s agent started with --server https://127.0.0.1:<port> and
 * --disable-apiserver-lb looks for them (k3s-io/k3s pkg/agent/proxy/apiproxy.go at 866d743e):
 * it takes the supervisor port from its --server URL and, when the servers' ports differ,
 * rewrites every server it learns to that port for its tunnels (Update, setSupervisorPort, 88-
 * 127), and asks its API servers at https://<--server host>:<HTTPSPort> (SetAPIServerPort,
 * 134-165). So agent.listen defaults to loopback on the fixed address's port (the servers'
 * supervisor port) and the API listener to each listen host on agent.apiserver_port. */
#include "config/agent.h"

#include "config/value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct config_node *scalar(const char *v, struct config_mark m)
{
    struct config_node *n = config_node_scalar(v, m);
    n->plain = true;
    return n;
}

static struct config_node *map_of(struct config_mark m)
{
    return config_node_new(CONFIG_NODE_MAP, m);
}

static void put(struct config_node *map, const char *key, struct config_node *value)
{
    config_node_put(map, key, value);
}

static void put_default(struct config_node *map, const char *key, struct config_node *value)
{
    if (config_node_get(map, key))
        config_node_free(value);
    else
        put(map, key, value);
}

/* The health block, with the agent's defaults filled in: a k3s check every 10 s over one
 * kept-alive connection per server, with the agent's token if it has one. Each probe is a
 * request the server serves, for every agent: 10 s keeps a fleet of agents at 0.1 request/s
 * each per server. A dial failure still takes a server down at once; a server that stops
 * answering without closing is found within interval x fall + timeout (21 s). */
static struct config_node *agent_health(struct config_node *given, const struct config_node *agent,
                                        struct config_mark m)
{
    struct config_node *h = given ? given : map_of(m), *tf = config_node_get(agent, "token_file"),
                       *te = config_node_get(agent, "token_env");
    if (h->type != CONFIG_NODE_MAP)
        return h; /* the applier reports it */
    put_default(h, "kind", scalar("k3s", m));
    put_default(h, "interval", scalar("10s", m));
    put_default(h, "timeout", scalar("1s", m));
    put_default(h, "fall", scalar("2", m));
    const struct config_node *kind = config_node_get(h, "kind"),
                             *program = config_node_get(agent, "program");
    if (kind->type == CONFIG_NODE_SCALAR && strcmp(kind->value, "k3s") == 0) {
        if (tf)
            put_default(h, "token_file", config_node_copy(tf));
        else if (te)
            put_default(h, "token_env", config_node_copy(te));
        if ((tf || te) && program && program->type == CONFIG_NODE_SCALAR &&
            strcmp(program->value, "rke2") == 0)
            put_default(h, "path", scalar("/v1-rke2/readyz", m)); /* RKE2's supervisor routes */
    }
    return h;
}

static struct config_node *frontend(const char *name, struct config_node *listen,
                                    const char *backend, struct config_mark m)
{
    struct config_node *f = map_of(m);
    put(f, "name", scalar(name, m));
    put(f, "listen", listen);
    put(f, "backend", scalar(backend, m));
    return f;
}

static struct config_node *backend(const char *name, const char *server,
                                   struct config_node *timeout, struct config_node *health,
                                   struct config_mark m)
{
    struct config_node *b = map_of(m), *servers = config_node_new(CONFIG_NODE_SEQ, m);
    put(b, "name", scalar(name, m));
    put(b, "balance", scalar("sticky", m));
    put(b, "connect_timeout", timeout);
    config_node_append(servers, scalar(server, m));
    put(b, "servers", servers);
    put(b, "health", health);
    return b;
}

/* Each listen address's host on port (the API listener beside the supervisor's). */
static struct config_node *on_port(const struct config_node *listen, unsigned port)
{
    struct config_node *out = config_node_new(CONFIG_NODE_SEQ, listen->mark);
    for (size_t i = 0; i < listen->n; i++) {
        const struct config_node *l = listen->items[i];
        struct net_addr a;
        char why[200], text[NET_ADDRSTRLEN + 8];
        if (l->type != CONFIG_NODE_SCALAR ||
            !config_parse_addr(l->value, CONFIG_ADDR_LISTEN, &a, why, sizeof(why)))
            continue; /* the applier reports it on the agent listener */
        config_addr_with_port(a.text, port, text, sizeof(text));
        config_node_append(out, scalar(text, l->mark));
        config_addr_free(&a);
    }
    return out;
}

/* The default listeners: each loopback host on the fixed address's port. */
static struct config_node *default_listen(const struct config_agent_defaults *d, const char *server,
                                          struct config_mark m)
{
    struct config_node *out = config_node_new(CONFIG_NODE_SEQ, m);
    const char *port = strrchr(server, ':') + 1; /* config_parse_server_url always names one */
    char text[NET_ADDRSTRLEN + 8];
    for (size_t i = 0; i < d->n_hosts; i++) {
        snprintf(text, sizeof(text), "%s:%s", d->hosts[i], port);
        config_node_append(out, scalar(text, m));
    }
    return out;
}

/* The API servers' balancer of a split-port cluster, when agent.apiserver_port asks for one. */
static bool add_apiserver(struct config_node *agent, const struct config_node *listen,
                          const char *server, struct config_node *timeout,
                          struct config_node *fronts, struct config_node *backs,
                          struct config_errors *errs)
{
    struct config_node *port = config_node_get(agent, "apiserver_port"), *al, *h;
    struct config_mark m = agent->mark;
    char api[NET_ADDRSTRLEN + 8];
    unsigned long p;
    if (!port) {
        if ((al = config_node_key(agent, "apiserver_listen")))
            config_error_add(errs, al->mark, "apiserver_listen needs agent.apiserver_port");
        return !config_node_key(agent, "apiserver_listen");
    }
    if (port->type != CONFIG_NODE_SCALAR || (p = strtoul(port->value, NULL, 10)) == 0)
        return true; /* 0 (none) or a bad value the applier reports */
    al = config_node_get(agent, "apiserver_listen");
    al = al ? config_node_copy(al) : on_port(listen, (unsigned)p);
    h = map_of(m);
    put(h, "kind", scalar("tcp", m));
    put(h, "interval", scalar("1s", m));
    config_addr_with_port(server, (unsigned)p, api, sizeof(api));
    config_node_append(fronts, frontend("apiserver", al, "apiservers", m));
    config_node_append(backs, backend("apiservers", api, config_node_copy(timeout), h, m));
    return true;
}

/* Go's strconv.ParseBool true values, as K3s reads K3S_AGENT_HTTP_PROXY_ALLOWED. */
static bool env_true(const char *name)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
    const char *v = getenv(name);
    for (int i = 0; v && yes[i]; i++)
        if (strcmp(v, yes[i]) == 0)
            return true;
    return false;
}

/* The proxy the servers are reached through: agent.http_proxy, else, as K3s's agent decides
 * once for its server URL (pkg/agent/loadbalancer/httpproxy.go), HTTPS_PROXY when
 * K3S_AGENT_HTTP_PROXY_ALLOWED is true and NO_PROXY does not exclude the fixed address. Every
 * backend gets it: the learned servers are dialed the same way. */
static void add_proxy(struct config_node *agent, const char *server, struct config_node *backs,
                      struct config_mark m)
{
    const struct config_node *given = config_node_get(agent, "http_proxy");
    const char *proxy = getenv("HTTPS_PROXY"), *no_proxy = getenv("NO_PROXY");
    struct net_addr a;
    char why[200];
    struct config_node *value;
    if (!proxy || !*proxy)
        proxy = getenv("https_proxy");
    if (!no_proxy || !*no_proxy)
        no_proxy = getenv("no_proxy");
    if (given) {
        value = config_node_copy(given);
    } else {
        if (!env_true("K3S_AGENT_HTTP_PROXY_ALLOWED") || !proxy || !*proxy ||
            !config_parse_addr(server, CONFIG_ADDR_TARGET, &a, why, sizeof(why)))
            return;
        bool direct = config_no_proxy(no_proxy, a.host ? a.host : "", a.port);
        config_addr_free(&a);
        if (direct)
            return;
        value = scalar(proxy, m);
        put(agent, "http_proxy", config_node_copy(value));
    }
    for (size_t i = 0; i < backs->n; i++)
        put(backs->items[i], "http_proxy", config_node_copy(value));
    config_node_free(value);
}

bool config_agent_transform(struct config_node *root, const struct config_agent_defaults *d,
                            struct config_errors *errs)
{
    struct config_node *agent = config_node_get(root, "agent"), *url, *listen, *health, *timeout,
                       *fronts, *backs, *etcd;
    struct config_mark m = root->mark;
    char server[300], why[256], etcd_server[320];
    static const char *const reserved[] = {"frontends", "backends", NULL};
    size_t before = errs->n;

    for (int i = 0; reserved[i]; i++) {
        struct config_node *k = config_node_key(root, reserved[i]);
        if (k)
            config_error_add(errs, k->mark,
                             "'%s' is not used by k3lb agent: it builds them from 'agent:'",
                             reserved[i]);
    }
    if (!agent || agent->type != CONFIG_NODE_MAP || !(url = config_node_get(agent, "server"))) {
        config_error_add(errs, agent ? agent->mark : m,
                         "the agent needs the fixed registration address: --server URL, "
                         "K3S_URL or agent.server");
        return false;
    }
    if (url->type != CONFIG_NODE_SCALAR ||
        !config_parse_server_url(url->value, server, sizeof(server), why, sizeof(why))) {
        config_error_add(errs, url->mark, "%s%s", url->mark.line ? "server: " : "",
                         url->type == CONFIG_NODE_SCALAR ? why : "must be a URL");
        return false;
    }
    if (errs->n != before)
        return false;
    listen = config_node_get(agent, "listen");
    listen = listen ? config_node_copy(listen) : default_listen(d, server, m);
    health = agent_health(config_node_take(agent, "health"), agent, m);
    if (!config_node_get(root, "admin")) {
        struct config_node *admin = map_of(m);
        put(admin, "listen", scalar("off", m)); /* the agent serves no API unless asked */
        put(root, "admin", admin);
    }
    timeout = config_node_get(agent, "dial_timeout");
    timeout = timeout ? config_node_copy(timeout) : scalar("2s", m);

    fronts = config_node_new(CONFIG_NODE_SEQ, m);
    backs = config_node_new(CONFIG_NODE_SEQ, m);
    config_node_append(fronts, frontend("agent", listen, "servers", m));
    config_node_append(backs, backend("servers", server, timeout, health, m));
    if (!add_apiserver(agent, listen, server, timeout, fronts, backs, errs)) {
        put(root, "frontends", fronts);
        put(root, "backends", backs);
        return false;
    }
    if ((etcd = config_node_get(agent, "etcd_listen"))) {
        struct config_node *el = config_node_new(CONFIG_NODE_SEQ, etcd->mark), *eh = map_of(m);
        config_node_append(el, config_node_copy(etcd));
        config_node_append(fronts, frontend("etcd", el, "etcd", m));
        put(eh, "kind", scalar("tcp", m));
        put(eh, "interval", scalar("1s", m));
        config_addr_with_port(server, 2379, etcd_server, sizeof(etcd_server));
        config_node_append(backs, backend("etcd", etcd_server, config_node_copy(timeout), eh, m));
    }
    add_proxy(agent, server, backs, m);
    put(root, "frontends", fronts);
    put(root, "backends", backs);
    return true;
}
