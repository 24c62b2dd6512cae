/* The keyword table. To add a key: add the field to config-t.h, one line here, and document it
 * in contrib/k3lb.yaml. Defaults are written as they would be in YAML and go through the same
 * parser as user input, so a default can never be out of its own bounds unnoticed (a unit test
 * loads an empty config). */
#include "config/keys.h"
#include "common/xalloc.h"

#include "config/node.h"
#include "config/value.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

const char *const config_balance_names[] = {"roundrobin", "leastconn", "random", "source",
                                            "first",      "sticky",    NULL};
#define KIND_NAME(e, name, http, tls, path, help) name,
#define KIND_INFO(e, name, http, tls, path, help)                                                  \
    [CONFIG_CHECK_##e] = {name, http, tls, path, help},
const char *const config_check_kind_names[] = {CONFIG_CHECK_KINDS(KIND_NAME) NULL};
const struct config_check_kind_info config_check_kinds[CONFIG_CHECK_COUNT] = {
    CONFIG_CHECK_KINDS(KIND_INFO)};
#undef KIND_NAME
#undef KIND_INFO
const char *const config_role_names[] = {"generic", "etcd", NULL};
const char *const config_program_names[] = {"k3s", "rke2", NULL};
const char *const config_on_down_names[] = {"close", "keep", NULL};
const char *const config_all_down_names[] = {"last_resort", "refuse", NULL};
const char *const config_send_proxy_names[] = {"none", "v1", "v2", NULL};
const char *const config_server_send_proxy_names[] = {"none", "v1", "v2", "backend", NULL};
const char *const config_sslmode_names[] = {"disable",   "prefer",      "require",
                                            "verify-ca", "verify-full", NULL};
const char *const config_db_role_names[] = {"any", "primary", "replica", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_names[] = {"text", "json", NULL};

/* ---- server --------------------------------------------------------------------------------- */

#define KEY_STRUCT struct config_server
static const struct config_key server_keys[] = {
    {KEY("address", address, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_TARGET,
         .flags = CONFIG_F_REQUIRED,
         .help = "host:port or [v6]:port to connect to; servers: [\"a:1\", \"b:1\"] is short "
                 "for [{address: \"a:1\"}, ...]")},
    {KEY("weight", weight, .type = CONFIG_T_UINT, .def = "1", .min = 0, .max = 256,
         .help = "share of new connections (0..256); 0 takes none")},
    {KEY("backup", backup, .type = CONFIG_T_BOOL, .def = "false",
         .help = "used only when no normal server is usable")},
    {KEY("check_port", check_port, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 65535,
         .help = "probe this port instead (Patroni's REST API beside PostgreSQL); 0: "
                 "health.port")},
    {KEY("check_address", check_address, .type = CONFIG_T_STRING,
         .help = "probe this IP address instead of the server's (a management address); the "
                 "port is check_port, health.port or the server's")},
    {KEY("maxconn", maxconn, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 1000000,
         .help = "connections this server takes at once; more wait in the backend's queue; 0: "
                 "the backend's maxconn")},
    {KEY("send_proxy", send_proxy, .type = CONFIG_T_ENUM, .names = config_server_send_proxy_names,
         .def = "backend",
         .help = "this server's PROXY protocol header; backend: as the "
                 "backend's send_proxy")},
};
#undef KEY_STRUCT

static void server_check(void *obj, struct config_errors *errs);

const struct config_section config_server_section = {
    .name = "server",
    .size = sizeof(struct config_server),
    .keys = server_keys,
    .n_keys = sizeof(server_keys) / sizeof(server_keys[0]),
    .shorthand = "address",
    .check = server_check,
};

/* ---- backend -------------------------------------------------------------------------------- */

static void backend_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_backend
static const struct config_key backend_keys[] = {
    {KEY("name", name, .type = CONFIG_T_STRING, .flags = CONFIG_F_REQUIRED,
         .help = "unique backend name")},
    {KEY("role", role, .type = CONFIG_T_ENUM, .names = config_role_names, .def = "generic",
         .help = "etcd: warn when members are even or fewer than a majority are healthy")},
    {KEY("when_all_down", when_all_down, .type = CONFIG_T_ENUM, .names = config_all_down_names,
         .def = "last_resort",
         .help = "no server passes its checks: try one anyway (a check can be wrong), or "
                 "refuse the client (a role-checked datastore: never write to a replica)")},
    {KEY("balance", balance, .type = CONFIG_T_ENUM, .names = config_balance_names,
         .def = "roundrobin",
         .help = "how a server is picked: smooth weighted round-robin, fewest connections per "
                 "weight, the better of two random choices, client address hash, the first usable, "
                 "or one ACTIVE server for all (as the agent does)")},
    {KEY("connect_timeout", connect_timeout_ms, .type = CONFIG_T_DURATION, .def = "3s",
         .min = MS(10), .max = SEC(300), .help = "a slower connect is retried on the next server")},
    {KEY("idle_timeout", idle_timeout_ms, .type = CONFIG_T_DURATION, .def = "0", .min = 0,
         .max = 366 * 24 * HOUR, .help = "close after this long without data; 0 = never")},
    {KEY("http_proxy", http_proxy, .type = CONFIG_T_STRING,
         .help = "reach the servers (traffic and checks) through this HTTP proxy's CONNECT: "
                 "http://[user:password@]host:port; default: direct")},
    {KEY("send_proxy", send_proxy, .type = CONFIG_T_ENUM, .names = config_send_proxy_names,
         .def = "none",
         .help = "send a PROXY protocol header (v1 text, v2 binary) first on each server "
                 "connection, with the client's address and the one it reached; checks of the "
                 "server's own port send one of no address (v1 UNKNOWN, v2 LOCAL)")},
    {KEY("maxconn", maxconn, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 1000000,
         .help = "connections each server takes at once (a datastore's max_connections, shared "
                 "by every client); a client over the limit waits in the queue; 0: no limit")},
    {KEY("max_queue", max_queue, .type = CONFIG_T_UINT, .def = "1024", .min = 0, .max = 1000000,
         .help = "maxconn: clients that may wait at once; one more is closed at once "
                 "(queue_full)")},
    {KEY("queue_timeout", queue_timeout_ms, .type = CONFIG_T_DURATION, .def = "5s", .min = MS(10),
         .max = SEC(3600),
         .help = "maxconn: a client waiting this long is closed (queue_timeout); waiting clients "
                 "get a slot oldest first")},
    {KEY("slowstart", slowstart_ms, .type = CONFIG_T_DURATION, .def = "0", .min = 0,
         .max = SEC(3600),
         .help = "a server back up after a failure gets its weight step by step over this long "
                 "(a cold cache, a datastore warming up), not its whole share at once; not at "
                 "start; 0: at once")},
    {KEY("servers", servers, .type = CONFIG_T_SECTION, .sub = &config_server_section,
         LIST(n_servers), .flags = CONFIG_F_LIST | CONFIG_F_REQUIRED, .help = "the servers")},
    {KEY("health", health, .type = CONFIG_T_SECTION, .sub = &config_health_section,
         .help = "active health checks")},
    {KEY("requires", requires, .type = CONFIG_T_STRING, LIST(n_requires), .flags = CONFIG_F_LIST,
         .help = "backends whose servers on the same host must be up for a server here to take "
                 "traffic: an RKE2 supervisor (9345) that needs its host's API server and etcd "
                 "member (join readiness)")},
};
#undef KEY_STRUCT

const struct config_section config_backend_section = {
    .name = "backend",
    .size = sizeof(struct config_backend),
    .keys = backend_keys,
    .n_keys = sizeof(backend_keys) / sizeof(backend_keys[0]),
    .check = backend_check,
};

/* ---- admin, log ----------------------------------------------------------------------------- */

#define KEY_STRUCT struct config_admin
static const struct config_key admin_keys[] = {
    {KEY("listen", listen, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_ADMIN,
         .def = "unix:/run/k3lb/admin.sock", .flags = CONFIG_F_RESTART,
         .help = "admin API: unix:/path (created mode 0600), host:port (a token is required off "
                 "loopback), or off")},
    {KEY("token_file", token_file, .type = CONFIG_T_FILE,
         .help = "file with the bearer token API clients must send")},
    {KEY("token_env", token_env, .type = CONFIG_T_STRING,
         .help = "environment variable holding that token")},
};
#undef KEY_STRUCT

static void admin_check(void *obj, struct config_errors *errs);

const struct config_section config_admin_section = {
    .check = admin_check,
    .name = "admin",
    .size = sizeof(struct config_admin),
    .keys = admin_keys,
    .n_keys = sizeof(admin_keys) / sizeof(admin_keys[0]),
};

#define KEY_STRUCT struct config_log
static const struct config_key log_keys[] = {
    {KEY("level", level, .type = CONFIG_T_ENUM, .names = level_names, .def = "info",
         .help = "least severity logged; debug adds one line per connection")},
    {KEY("format", format, .type = CONFIG_T_ENUM, .names = format_names, .def = "text",
         .help = "json writes one object per line")},
};
#undef KEY_STRUCT

const struct config_section config_log_section = {
    .name = "log",
    .size = sizeof(struct config_log),
    .keys = log_keys,
    .n_keys = sizeof(log_keys) / sizeof(log_keys[0]),
};

/* ---- agent ---------------------------------------------------------------------------------- */

static void agent_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_agent
static const struct config_key agent_keys[] = {
    {KEY("server", server, .type = CONFIG_T_STRING,
         .help = "the fixed registration address, https://host:6443")},
    {KEY("listen", listen, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_LISTEN, LIST(n_listen),
         .flags = CONFIG_F_LIST,
         .help = "client listeners; default 127.0.0.1 and [::1] on the port of agent.server, "
                 "the servers' supervisor port, which a K3s agent pointed here gives every "
                 "server it learns when the servers' ports differ")},
    {KEY("etcd_listen", etcd_listen, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_LISTEN,
         .help = "optional etcd balancer: the members from /db/info with a server token, "
                 "else the servers' hosts on port 2379")},
    {KEY("etcd_refresh", etcd_refresh_ms, .type = CONFIG_T_DURATION, .def = "30s", .min = MS(100),
         .max = HOUR, .help = "how often the etcd members are asked (/db/info), as K3s does")},
    {KEY("apiserver_port", apiserver_port, .type = CONFIG_T_UINT, .def = "0", .min = 0,
         .max = 65535,
         .help = "the servers' API port when it is not the supervisor's (RKE2, or K3s with "
                 "--supervisor-port): a second balancer for the API servers; 0: none")},
    {KEY("apiserver_listen", apiserver_listen, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_LISTEN,
         LIST(n_apiserver_listen), .flags = CONFIG_F_LIST,
         .help = "listeners of that balancer; default: each listen host on apiserver_port, "
                 "where a K3s agent with --disable-apiserver-lb asks its API servers")},
    {KEY("token_file", token_file, .type = CONFIG_T_FILE, .help = "K3s token file")},
    {KEY("token_env", token_env, .type = CONFIG_T_STRING,
         .help = "environment variable holding the K3s token")},
    {KEY("state_file", state_file, .type = CONFIG_T_STRING,
         .def = "/var/lib/k3lb/agent-load-balancer.json", .help = "learned server list")},
    {KEY("servers_from", servers_from, .type = CONFIG_T_STRING, LIST(n_servers_from),
         .flags = CONFIG_F_LIST, .help = "k3s, dns, static:ADDR,ADDR; default k3s with a token")},
    {KEY("dial_timeout", dial_timeout_ms, .type = CONFIG_T_DURATION, .def = "2s", .min = MS(10),
         .max = SEC(60), .help = "connect timeout per server")},
    {KEY("refresh", refresh_ms, .type = CONFIG_T_DURATION, .def = "5s", .min = MS(100), .max = HOUR,
         .help = "how often the server list is refreshed")},
    {KEY("program", program, .type = CONFIG_T_ENUM, .names = config_program_names, .def = "k3s",
         .help = "whose servers: their supervisor routes are /v1-<program>/..., and RKE2's "
                 "agent always runs its own balancer, of which k3lb is the default server")},
    {KEY("http_proxy", http_proxy, .type = CONFIG_T_STRING,
         .help = "reach the servers through this HTTP proxy (CONNECT); default: HTTPS_PROXY "
                 "when K3S_AGENT_HTTP_PROXY_ALLOWED is true and NO_PROXY does not exclude the "
                 "server, as K3s's agent decides")},
};
#undef KEY_STRUCT

const struct config_section config_agent_section = {
    .name = "agent",
    .size = sizeof(struct config_agent),
    .keys = agent_keys,
    .n_keys = sizeof(agent_keys) / sizeof(agent_keys[0]),
    .check = agent_check,
};

static void agent_check(void *obj, struct config_errors *errs)
{
    struct config_agent *a = obj;
    const struct config_section *sec = &config_agent_section;
    if (a->token_file && a->token_env)
        config_error_add(errs, config_mark_of(&a->obj, sec, "token_env"),
                         "give token_file or token_env, not both");
    config_check_env(&a->obj, sec, "token_env", a->token_env, errs);
    for (size_t i = 0; i < a->n_servers_from; i++) {
        const char *s = a->servers_from[i];
        if (s && strcmp(s, "k3s") != 0 && strcmp(s, "dns") != 0 && strncmp(s, "static:", 7) != 0)
            config_error_add(errs, config_mark_of(&a->obj, sec, "servers_from"),
                             "servers_from: unknown source '%s': expected k3s, dns or "
                             "static:ADDR,ADDR",
                             s);
    }
}

/* ---- announce -------------------------------------------------------------------------------- */

static void announce_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_announce
static const struct config_key announce_keys[] = {
    {KEY("addresses", addresses, .type = CONFIG_T_CIDR, LIST(n_addresses), .flags = CONFIG_F_LIST,
         .help = "anycast addresses to announce (10.0.0.100/32, fd00::100/128) through the "
                 "routing daemon on this host, which exports the interface's connected routes; "
                 "none: nothing is announced")},
    {KEY("interface", interface, .type = CONFIG_T_STRING, .def = "k3lb-announce",
         .flags = CONFIG_F_RESTART,
         .help = "the TUN interface k3lb creates and holds them on: it goes away with k3lb, so "
                 "a killed k3lb withdraws at once")},
    {KEY("frontends", frontends, .type = CONFIG_T_STRING, LIST(n_frontends), .flags = CONFIG_F_LIST,
         .help = "announced while these have usable servers (k3lb ctl health); default: "
                 "every frontend")},
    {KEY("lifetime", lifetime_ms, .type = CONFIG_T_DURATION, .def = "2s", .min = SEC(1),
         .max = SEC(60),
         .help = "the kernel removes an address k3lb has not renewed within this (a hung "
                 "k3lb withdraws), in whole seconds; renewed every third of it")},
};
#undef KEY_STRUCT

static const struct config_section announce_section = {
    .name = "announce",
    .size = sizeof(struct config_announce),
    .keys = announce_keys,
    .n_keys = sizeof(announce_keys) / sizeof(announce_keys[0]),
    .check = announce_check,
};

/* A Linux interface name has 15 bytes at most. An anycast address is one host: a wider network
 * would make every address in it local on this node (its local route) and be put on the
 * interface as its first address. */
static void announce_check(void *obj, struct config_errors *errs)
{
    struct config_announce *a = obj;
    for (size_t i = 0; i < a->n_addresses; i++)
        if (a->addresses[i].bits != (a->addresses[i].family == AF_INET ? 32 : 128))
            config_error_add(errs, config_mark_of(&a->obj, &announce_section, "addresses"),
                             "addresses: an anycast address is one host: /%u is a network; "
                             "give /%u",
                             a->addresses[i].bits, a->addresses[i].family == AF_INET ? 32 : 128);
    if (a->interface && (strlen(a->interface) == 0 || strlen(a->interface) > 15 ||
                         strchr(a->interface, '/') || strchr(a->interface, ' ')))
        config_error_add(errs, config_mark_of(&a->obj, &announce_section, "interface"),
                         "interface '%s' is not a Linux interface name (1-15 characters, no "
                         "'/' or blank)",
                         a->interface);
}

/* ---- root ----------------------------------------------------------------------------------- */

#define KEY_STRUCT struct config
static const struct config_key root_keys[] = {
    {KEY("workers", workers, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 256,
         .flags = CONFIG_F_RESTART, .help = "worker threads; 0 = one per online CPU")},
    {KEY("grace", grace_ms, .type = CONFIG_T_DURATION, .def = "30s", .min = 0, .max = HOUR,
         .help = "on SIGTERM or SIGINT, how long open connections may finish")},
    {KEY("stop_delay", stop_delay_ms, .type = CONFIG_T_DURATION, .def = "0s", .min = 0,
         .max = SEC(300),
         .help = "on SIGTERM or SIGINT, first this long saying stopping (/healthz and k3lb ctl "
                 "health fail, so keepalived moves the address; announced addresses are "
                 "withdrawn) while still accepting the connections on their way; then the "
                 "listeners close and grace begins")},
    {KEY("buffer_size", buffer_size, .type = CONFIG_T_SIZE, .def = "16k", .min = 1024,
         .max = 1024 * 1024, .help = "forwarding buffer per direction while data is in flight")},
    {KEY("resolver", resolver, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_TARGET,
         .flags = CONFIG_F_RESTART,
         .help =
             "DNS server (host:port) for servers' host names, asked in the background; default: "
             "/etc/resolv.conf. A server whose name has no address yet takes no traffic and "
             "is asked again every 5 s")},
    {KEY("resolve_interval", resolve_interval_ms, .type = CONFIG_T_DURATION, .def = "30s", .min = 0,
         .max = HOUR,
         .help = "servers' host names are resolved again this often, and at once when one goes "
                 "down, so a server that moves is followed; 0: resolved once")},
    {KEY("splice", splice, .type = CONFIG_T_BOOL, .def = "true",
         .help = "move bytes with splice(2) through kernel pipes instead of copying them")},
    {KEY("maxconn", maxconn, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 10000000,
         .help = "most client connections at once; 0 = what the open-file limit allows")},
    {KEY("user", user, .type = CONFIG_T_STRING, .flags = CONFIG_F_RESTART,
         .help = "when started as root, become this user once every socket is bound")},
    {KEY("admin", admin, .type = CONFIG_T_SECTION, .sub = &config_admin_section,
         .help = "status and runtime API listener")},
    {KEY("log", log, .type = CONFIG_T_SECTION, .sub = &config_log_section, .help = "logging")},
    {KEY("agent", agent, .type = CONFIG_T_SECTION, .sub = &config_agent_section,
         .help = "k3lb agent settings")},
    {KEY("announce", announce, .type = CONFIG_T_SECTION, .sub = &announce_section,
         .help = "announce anycast addresses through this host's routing daemon while healthy "
                 "(active-active behind ECMP)")},
    {KEY("frontends", frontends, .type = CONFIG_T_SECTION, .sub = &config_frontend_section,
         LIST(n_frontends), .flags = CONFIG_F_LIST | CONFIG_F_REQUIRED,
         .help = "where clients connect")},
    {KEY("backends", backends, .type = CONFIG_T_SECTION, .sub = &config_backend_section,
         LIST(n_backends), .flags = CONFIG_F_LIST | CONFIG_F_REQUIRED, .help = "server pools")},
};
#undef KEY_STRUCT

const struct config_section config_root_section = {
    .name = "config",
    .size = sizeof(struct config),
    .keys = root_keys,
    .n_keys = sizeof(root_keys) / sizeof(root_keys[0]),
};

int config_key_index(const struct config_section *sec, const char *name)
{
    for (size_t i = 0; i < sec->n_keys; i++)
        if (strcmp(sec->keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

bool config_key_given(const struct config_obj *obj, const struct config_section *sec,
                      const char *key)
{
    return obj->keys[config_key_index(sec, key)].file != NULL;
}

/* An environment variable named in the config must exist when it loads. */
void config_check_env(const struct config_obj *obj, const struct config_section *sec,
                      const char *key, const char *name, struct config_errors *errs)
{
    if (name && !getenv(name))
        config_secret_absent(errs, config_mark_of(obj, sec, key),
                             "environment variable %s is not set", name);
}

struct config_mark config_mark_of(const struct config_obj *obj, const struct config_section *sec,
                                  const char *key)
{
    int i = config_key_index(sec, key);
    return i >= 0 && obj->keys[i].file ? obj->keys[i] : obj->mark;
}

static void server_check(void *obj, struct config_errors *errs)
{
    struct config_server *s = obj;
    unsigned char ip[sizeof(struct in6_addr)];
    if (s->check_address && inet_pton(AF_INET, s->check_address, ip) != 1 &&
        inet_pton(AF_INET6, s->check_address, ip) != 1)
        config_error_add(errs, config_mark_of(&s->obj, &config_server_section, "check_address"),
                         "check_address '%s' is not an IPv4 or IPv6 address", s->check_address);
}

/* The API changes what k3lb does: off loopback and unix sockets it must ask for a token. Only
 * a literal loopback address counts: a name ("localhost", "127.x.example") could resolve
 * anywhere, so it needs a token like any other address. */
static void admin_check(void *obj, struct config_errors *errs)
{
    struct config_admin *a = obj;
    const struct config_section *sec = &config_admin_section;
    if (a->token_file && a->token_env)
        config_error_add(errs, config_mark_of(&a->obj, sec, "token_env"),
                         "give token_file or token_env, not both");
    config_check_env(&a->obj, sec, "token_env", a->token_env, errs);
    if (a->listen.kind == NET_ADDR_INET && a->listen.port &&
        !config_loopback_literal(a->listen.host) && !a->token_file && !a->token_env)
        config_error_add(errs, config_mark_of(&a->obj, sec, "listen"),
                         "admin listener %s is not a loopback address (127.0.0.0/8 or ::1): set "
                         "admin.token_file or admin.token_env so that the API asks for a token",
                         a->listen.text);
}

static void backend_check(void *obj, struct config_errors *errs)
{
    struct config_backend *b = obj;
    const char *name = b->name ? b->name : "?";
    char hostport[NET_ADDRSTRLEN], why[300], *auth = NULL;
    if (b->http_proxy &&
        !config_parse_proxy_url(b->http_proxy, hostport, sizeof(hostport), &auth, why, sizeof(why)))
        config_error_add(errs, config_mark_of(&b->obj, &config_backend_section, "http_proxy"), "%s",
                         why);
    free(auth);
    if (b->http_proxy && b->health.database.user)
        config_error_add(errs, config_mark_of(&b->obj, &config_backend_section, "http_proxy"),
                         "a database check that logs in cannot go through http_proxy (its "
                         "client library dials the server itself)");
    if (b->n_servers == 0 && errs->in_object == 0)
        config_error_add(errs, config_mark_of(&b->obj, &config_backend_section, "servers"),
                         "backend '%s' has no servers", name);
    const char **addrs = xcalloc(b->n_servers, sizeof(*addrs));
    size_t *first = xcalloc(b->n_servers, sizeof(*first));
    for (size_t i = 0; i < b->n_servers; i++) /* a server that failed to parse counts as "" */
        addrs[i] = b->servers[i].address.text ? b->servers[i].address.text : "";
    config_first_equal(addrs, b->n_servers, false, first);
    for (size_t i = 0; i < b->n_servers; i++)
        if (first[i] != SIZE_MAX && addrs[i][0])
            config_error_add(errs, b->servers[i].obj.mark,
                             "server '%s' is listed twice in backend '%s' (first at line %u)",
                             addrs[i], name, b->servers[first[i]].obj.mark.line);
    free(first);
    free(addrs);
    for (size_t i = 0; i < b->n_servers; i++) {
        struct config_server *srv = &b->servers[i];
        if (srv->send_proxy == CONFIG_SEND_PROXY_BACKEND)
            srv->send_proxy = b->send_proxy;
        if (!srv->maxconn)
            srv->maxconn = b->maxconn;
        if (srv->send_proxy != CONFIG_SEND_PROXY_NONE && b->health.database.user &&
            !b->health.port && !srv->check_port)
            config_error_add(errs, config_mark_of(&srv->obj, &config_server_section, "send_proxy"),
                             "a database check that logs in cannot send the PROXY header this "
                             "server expects (its client library dials the server itself): "
                             "probe another port (health.port, check_port)");
    }
}
