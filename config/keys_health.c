/* The keyword table's health part: a backend's checks and their TLS, credential and database
 * blocks, with the checks that tie their keys together. See keys.c for how a key is added. */
#include "config/keys.h"

#include "config/node.h"
#include "config/value.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* ---- tls, auth, database: parts of health
 * ------------------------------------------------------------ */

static void tls_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_tls
static const struct config_key tls_keys[] = {
    {KEY("ca", ca, .type = CONFIG_T_FILE, .help = "CA bundle (PEM) server certificates chain to")},
    {KEY("cert", cert, .type = CONFIG_T_FILE, .help = "client certificate (PEM)")},
    {KEY("key", key, .type = CONFIG_T_FILE, .help = "client certificate's private key (PEM)")},
    {KEY("server_name", server_name, .type = CONFIG_T_STRING,
         .help = "SNI and the name the certificate must cover; default: the server's host")},
    {KEY("verify", verify, .type = CONFIG_T_BOOL, .def = "true",
         .help = "verify the certificate chain and name")},
};
#undef KEY_STRUCT

const struct config_section config_tls_section = {
    .name = "tls",
    .size = sizeof(struct config_tls),
    .keys = tls_keys,
    .n_keys = sizeof(tls_keys) / sizeof(tls_keys[0]),
    .check = tls_check,
};

#define KEY_STRUCT struct config_basic_auth
static const struct config_key basic_keys[] = {
    {KEY("user", user, .type = CONFIG_T_STRING, .help = "user name")},
    {KEY("password_file", password_file, .type = CONFIG_T_FILE, .help = "file with the password")},
    {KEY("password_env", password_env, .type = CONFIG_T_STRING,
         .help = "environment variable with the password")},
};
#undef KEY_STRUCT

static const struct config_section basic_section = {
    .name = "basic",
    .size = sizeof(struct config_basic_auth),
    .keys = basic_keys,
    .n_keys = sizeof(basic_keys) / sizeof(basic_keys[0]),
};

static void auth_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_auth
static const struct config_key auth_keys[] = {
    {KEY("bearer_token_file", bearer_token_file, .type = CONFIG_T_FILE,
         .help = "file with a bearer token")},
    {KEY("bearer_token_env", bearer_token_env, .type = CONFIG_T_STRING,
         .help = "environment variable with a bearer token")},
    {KEY("basic", basic, .type = CONFIG_T_SECTION, .sub = &basic_section,
         .help = "basic auth credentials")},
};
#undef KEY_STRUCT

const struct config_section config_auth_section = {
    .name = "auth",
    .size = sizeof(struct config_auth),
    .keys = auth_keys,
    .n_keys = sizeof(auth_keys) / sizeof(auth_keys[0]),
    .check = auth_check,
};

static void database_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_database
static const struct config_key database_keys[] = {
    {KEY("user", user, .type = CONFIG_T_STRING,
         .help = "log in as this user and query; without it the check only sees the server speak "
                 "its protocol")},
    {KEY("password_file", password_file, .type = CONFIG_T_FILE, .help = "file with the password")},
    {KEY("password_env", password_env, .type = CONFIG_T_STRING,
         .help = "environment variable with the password")},
    {KEY("name", name, .type = CONFIG_T_STRING,
         .help = "database to connect to; default: postgres for postgres, none for mysql")},
    {KEY("sslmode", sslmode, .type = CONFIG_T_ENUM, .names = config_sslmode_names, .def = "prefer",
         .help = "TLS as libpq's sslmode; verify-ca and verify-full need tls.ca (mysql: no "
                 "verify-ca, and verify-full checks the address connected to)")},
    {KEY("role_required", role_required, .type = CONFIG_T_ENUM, .names = config_db_role_names,
         .def = "any",
         .help = "primary: only a writable server passes (postgres: not pg_is_in_recovery(); "
                 "mysql: neither read_only nor innodb_read_only); replica: only a read-only one")},
    {KEY("galera", galera, .type = CONFIG_T_BOOL, .def = "false",
         .help = "mysql: also require a synced Galera node (wsrep_local_state 4, wsrep_ready ON)")},
};
#undef KEY_STRUCT

static const struct config_section database_section = {
    .name = "database",
    .size = sizeof(struct config_database),
    .keys = database_keys,
    .n_keys = sizeof(database_keys) / sizeof(database_keys[0]),
    .check = database_check,
};

/* ---- apiserver: the API server's own readiness, part of health -------------------------- */

static void apiserver_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_apiserver
static const struct config_key apiserver_keys[] = {
    {KEY("port", port, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 65535,
         .help = "the API server's port when it is not the one the check's own request goes to "
                 "(RKE2: 6443 beside the supervisor's 9345); 0: the same")},
    {KEY("path", path, .type = CONFIG_T_STRING, .def = "/readyz",
         .help = "what to GET; a failing answer names the API server's failed checks")},
    {KEY("bearer_token_file", bearer_token_file, .type = CONFIG_T_FILE,
         .help = "file with a token the API server accepts, such as a ServiceAccount's (any "
                 "authenticated user may read /readyz)")},
    {KEY("bearer_token_env", bearer_token_env, .type = CONFIG_T_STRING,
         .help = "environment variable with that token")},
    {KEY("cert", cert, .type = CONFIG_T_FILE,
         .help = "or a client certificate (PEM) signed by the cluster's client CA")},
    {KEY("key", key, .type = CONFIG_T_FILE, .help = "its private key (PEM)")},
    {KEY("anonymous", anonymous, .type = CONFIG_T_BOOL, .def = "false",
         .help = "send no credentials: the servers admit anonymous requests to path "
                 "(AuthenticationConfiguration anonymous.conditions, Kubernetes 1.34+)")},
};
#undef KEY_STRUCT

static const struct config_section apiserver_section = {
    .name = "apiserver",
    .size = sizeof(struct config_apiserver),
    .keys = apiserver_keys,
    .n_keys = sizeof(apiserver_keys) / sizeof(apiserver_keys[0]),
    .check = apiserver_check,
};

/* ---- agent: HAProxy's agent-check ------------------------------------------------------------ */

#define KEY_STRUCT struct config_agent_check
static const struct config_key agent_check_keys[] = {
    {KEY("port", port, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 65535,
         .help = "the agent's TCP port on each server (at its check_address when it has one); "
                 "required")},
    {KEY("interval", interval_ms, .type = CONFIG_T_DURATION, .def = "2s", .min = MS(100),
         .max = HOUR, .help = "time between questions")},
    {KEY("timeout", timeout_ms, .type = CONFIG_T_DURATION, .def = "1s", .min = MS(10),
         .max = SEC(60),
         .help = "an agent that does not answer in time changes nothing (the health check "
                 "judges reachability)")},
    {KEY("send", send, .type = CONFIG_T_STRING,
         .help = "text sent first, as written (no end of line is added); default: nothing, "
                 "the agent speaks at once")},
};
#undef KEY_STRUCT

static const struct config_section agent_check_section = {
    .name = "agent",
    .size = sizeof(struct config_agent_check),
    .keys = agent_check_keys,
    .n_keys = sizeof(agent_check_keys) / sizeof(agent_check_keys[0]),
};

/* ---- health: one per backend ---------------------------------------------------------------- */

static void health_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_health
static const struct config_key health_keys[] = {
    {KEY("kind", kind, .type = CONFIG_T_ENUM, .names = config_check_kind_names, .def = "tcp",
         .help = "what a probe does: see the check kinds below")},
    {KEY("interval", interval_ms, .type = CONFIG_T_DURATION, .def = "2s", .min = MS(100),
         .max = HOUR, .help = "time between probes of an up server")},
    {KEY("timeout", timeout_ms, .type = CONFIG_T_DURATION, .def = "1s", .min = MS(10),
         .max = SEC(300), .help = "a probe slower than this fails")},
    {KEY("down_interval", down_interval_ms, .type = CONFIG_T_DURATION, .def = "5s", .min = MS(100),
         .max = HOUR, .help = "time between probes of a down server")},
    {KEY("rise", rise, .type = CONFIG_T_UINT, .def = "2", .min = 1, .max = 100,
         .help = "consecutive successes that bring a server up")},
    {KEY("fall", fall, .type = CONFIG_T_UINT, .def = "3", .min = 1, .max = 100,
         .help = "consecutive failures that take a server down")},
    {KEY("on_down", on_down, .type = CONFIG_T_ENUM, .names = config_on_down_names, .def = "close",
         .help = "close or keep the open connections of a server that goes down")},
    {KEY("port", port, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 65535,
         .help = "probe this port of every server instead of its own (traffic still goes to "
                 "the server's port); 0: the server's")},
    {KEY("path", path, .type = CONFIG_T_STRING, .help = "HTTP path; default per kind (below)")},
    {KEY("expect_status", expect_status, .type = CONFIG_T_UINT, LIST(n_expect_status),
         .flags = CONFIG_F_LIST, .def = "200", .min = 100, .max = 599,
         .help = "HTTP statuses that pass")},
    {KEY("expect_body", expect_body, .type = CONFIG_T_STRING,
         .help = "text the HTTP body must contain")},
    {KEY("tls", tls, .type = CONFIG_T_SECTION, .sub = &config_tls_section,
         .help = "TLS client settings")},
    {KEY("auth", auth, .type = CONFIG_T_SECTION, .sub = &config_auth_section,
         .help = "HTTP credentials")},
    {KEY("database", database, .type = CONFIG_T_SECTION, .sub = &database_section,
         .help = "postgres, mysql: log in (libpq, MariaDB Connector/C) and require a role")},
    {KEY("token_file", token_file, .type = CONFIG_T_FILE,
         .help = "k3s: file with the K3s token (K10<hash>::user:password, or a password); the "
                 "cluster CA is pinned to the token's hash")},
    {KEY("token_env", token_env, .type = CONFIG_T_STRING,
         .help = "k3s: environment variable with the K3s token")},
    {KEY("apiserver", apiserver, .type = CONFIG_T_SECTION, .sub = &apiserver_section,
         .help = "k3s, https: also ask the API server's own /readyz; the server is up only "
                 "while both pass (the supervisor's /v1-k3s/readyz stays 200 when the API "
                 "server has lost its datastore)")},
    {KEY("agent", agent, .type = CONFIG_T_SECTION, .sub = &agent_check_section,
         .help = "HAProxy's agent-check: each server's agent answers a line of words: N% "
                 "(weight, of the configured), ready, drain, maint, up, down (also failed, "
                 "stopped), maxconn:N, # and a description")},
};
#undef KEY_STRUCT

const struct config_section config_health_section = {
    .name = "health",
    .size = sizeof(struct config_health),
    .keys = health_keys,
    .n_keys = sizeof(health_keys) / sizeof(health_keys[0]),
    .check = health_check,
};

static void tls_check(void *obj, struct config_errors *errs)
{
    struct config_tls *t = obj;
    if (!t->cert != !t->key)
        config_error_add(errs,
                         config_mark_of(&t->obj, &config_tls_section, t->cert ? "cert" : "key"),
                         "tls needs both cert and key for a client certificate");
}

static void auth_check(void *obj, struct config_errors *errs)
{
    struct config_auth *a = obj;
    int sources = !!a->bearer_token_file + !!a->bearer_token_env + !!a->basic.user;
    if (sources > 1)
        config_error_add(errs, a->obj.mark,
                         "auth takes one of bearer_token_file, bearer_token_env or basic");
    if (a->basic.user && !a->basic.password_file == !a->basic.password_env)
        config_error_add(errs, a->basic.obj.mark,
                         "basic auth needs one of password_file or password_env");
    if (!a->basic.user && (a->basic.password_file || a->basic.password_env))
        config_error_add(errs, a->basic.obj.mark, "basic auth needs a user");
    config_check_env(&a->obj, &config_auth_section, "bearer_token_env", a->bearer_token_env, errs);
    config_check_env(&a->basic.obj, &basic_section, "password_env", a->basic.password_env, errs);
}

static void database_check(void *obj, struct config_errors *errs)
{
    struct config_database *d = obj;
    if (d->password_file && d->password_env)
        config_error_add(errs, config_mark_of(&d->obj, &database_section, "password_env"),
                         "give password_file or password_env, not both");
    config_check_env(&d->obj, &database_section, "password_env", d->password_env, errs);
}

/* What the database section may say depends on the check kind and on a login. */
static void health_database_check(const struct config_health *h, struct config_errors *errs)
{
    const struct config_database *d = &h->database;
    const struct config_section *ds = &database_section;
    bool mysql = h->kind == CONFIG_CHECK_MYSQL;
    if (!config_key_given(&h->obj, &config_health_section, "database"))
        return;
    if (h->kind != CONFIG_CHECK_POSTGRES && !mysql) {
        config_error_add(errs, config_mark_of(&h->obj, &config_health_section, "database"),
                         "database is only used by postgres and mysql checks");
        return;
    }
    for (size_t i = 1; !d->user && i < ds->n_keys; i++)
        if (config_key_given(&d->obj, ds, ds->keys[i].name))
            config_error_add(errs, d->obj.keys[i], "%s needs database.user: the check must log in",
                             ds->keys[i].name);
    if (d->galera && !mysql)
        config_error_add(errs, config_mark_of(&d->obj, ds, "galera"),
                         "galera applies to mysql checks only");
    if (mysql && d->sslmode == CONFIG_SSLMODE_VERIFY_CA)
        config_error_add(errs, config_mark_of(&d->obj, ds, "sslmode"),
                         "a mysql check verifies the name with the chain: use verify-full");
    if (d->sslmode >= CONFIG_SSLMODE_VERIFY_CA && !h->tls.ca)
        config_error_add(errs, config_mark_of(&d->obj, ds, "sslmode"),
                         "sslmode %s needs tls.ca, the CA the server's certificate chains to",
                         config_sslmode_names[d->sslmode]);
    if (mysql && h->tls.server_name)
        config_error_add(errs, config_mark_of(&h->tls.obj, &config_tls_section, "server_name"),
                         "a mysql check verifies the address it connects to, not server_name");
    if (d->user && config_key_given(&h->tls.obj, &config_tls_section, "verify"))
        config_error_add(errs, config_mark_of(&h->tls.obj, &config_tls_section, "verify"),
                         "database.sslmode decides what a logged-in check verifies");
}

/* What the block says of itself (it is checked given or not: an absent block is empty). */
static void apiserver_check(void *obj, struct config_errors *errs)
{
    struct config_apiserver *a = obj;
    const struct config_section *sec = &apiserver_section;
    if (a->bearer_token_file && a->bearer_token_env)
        config_error_add(errs, config_mark_of(&a->obj, sec, "bearer_token_env"),
                         "give bearer_token_file or bearer_token_env, not both");
    if (!a->cert != !a->key)
        config_error_add(errs, config_mark_of(&a->obj, sec, a->cert ? "cert" : "key"),
                         "apiserver needs both cert and key for a client certificate");
    if (a->path && a->path[0] != '/')
        config_error_add(errs, config_mark_of(&a->obj, sec, "path"), "path must start with '/'");
    config_check_env(&a->obj, sec, "bearer_token_env", a->bearer_token_env, errs);
}

/* A given apiserver block belongs to the kinds that end on an HTTPS answer, names one way to be
 * let in (K3s runs kube-apiserver with --anonymous-auth=false, pkg/daemons/control/server.go,
 * so a /readyz without credentials gets 401), and its credentials only go to a server whose
 * certificate is verified. */
static void health_apiserver_check(struct config_health *h, struct config_errors *errs)
{
    const struct config_apiserver *a = &h->apiserver;
    struct config_mark at = config_mark_of(&h->obj, &config_health_section, "apiserver");
    int ways =
        !!(a->bearer_token_file || a->bearer_token_env) + !!(a->cert || a->key) + a->anonymous;
    bool verified = h->tls.verify &&
                    (h->kind != CONFIG_CHECK_K3S || h->tls.ca || h->token_file || h->token_env);
    h->apiserver.enabled = config_key_given(&h->obj, &config_health_section, "apiserver");
    if (!h->apiserver.enabled)
        return;
    if (h->kind != CONFIG_CHECK_K3S && h->kind != CONFIG_CHECK_HTTPS)
        config_error_add(errs, at, "apiserver is only used by k3s and https checks");
    else if (ways == 0)
        config_error_add(errs, at,
                         "apiserver needs credentials: K3s and RKE2 run kube-apiserver without "
                         "anonymous access, so %s would answer 401; give bearer_token_file, "
                         "bearer_token_env, cert and key, or anonymous: true when the servers "
                         "admit anonymous requests to it",
                         a->path ? a->path : "/readyz");
    else if (ways > 1)
        config_error_add(errs, at,
                         "apiserver takes one of a bearer token, a client certificate or "
                         "anonymous: true");
    else if (!a->anonymous && !verified)
        config_error_add(errs, at,
                         "apiserver credentials would go to a server whose certificate is not "
                         "verified: %s",
                         h->kind == CONFIG_CHECK_K3S
                             ? "give token_file (the cluster CA is pinned to its hash) or tls.ca"
                             : "keep tls.verify on");
}

static void health_check(void *obj, struct config_errors *errs)
{
    struct config_health *h = obj;
    const struct config_section *sec = &config_health_section;
    const char *kind = config_check_kind_names[h->kind];
    static const char *const http_only[] = {"path", "expect_body", "auth", NULL};
    char t[32], iv[32];

    for (int i = 0; http_only[i]; i++) {
        int k = config_key_index(sec, http_only[i]);
        if (h->obj.keys[k].file && !config_check_kinds[h->kind].speaks_http)
            config_error_add(errs, h->obj.keys[k], "%s is not used by a %s check", http_only[i],
                             kind);
    }
    if (h->path && h->path[0] != '/')
        config_error_add(errs, config_mark_of(&h->obj, sec, "path"), "path must start with '/'");
    if ((h->token_file || h->token_env) && h->kind != CONFIG_CHECK_K3S)
        config_error_add(errs,
                         config_mark_of(&h->obj, sec, h->token_file ? "token_file" : "token_env"),
                         "a token is only used by a k3s check");
    if (h->token_file && h->token_env)
        config_error_add(errs, config_mark_of(&h->obj, sec, "token_env"),
                         "give token_file or token_env, not both");
    config_check_env(&h->obj, sec, "token_env", h->token_env, errs);
    health_database_check(h, errs);
    health_apiserver_check(h, errs);
    h->agent.enabled = config_key_given(&h->obj, &config_health_section, "agent");
    if (h->agent.enabled && !h->agent.port)
        config_error_add(errs, config_mark_of(&h->obj, &config_health_section, "agent"),
                         "agent needs the port its agents answer on (port: N)");
    if (h->timeout_ms > h->interval_ms) {
        config_format_duration(h->timeout_ms, t, sizeof(t));
        config_format_duration(h->interval_ms, iv, sizeof(iv));
        config_error_add(errs, config_mark_of(&h->obj, &config_health_section, "timeout"),
                         "timeout %s is longer than interval %s: a probe would overlap the next", t,
                         iv);
    }
}
