/* The keyword table. To add a key: add the field to config-t.h, one line here, and document it
 * in contrib/k3lb.yaml. Defaults are written as they would be in YAML and go through the same
 * parser as user input, so a default can never be out of its own bounds unnoticed (a unit test
 * loads an empty config). */
#include "keys.h"

#include "config.h"

#include "node.h"

#include <string.h>

#define MS(x)  ((uint64_t)(x))
#define SEC(x) ((uint64_t)(x)*1000)
#define HOUR   SEC(3600)

const char *const config_balance_names[] = {"roundrobin", "leastconn", "random",
                                            "source",     "first",     NULL};
const char *const config_check_kind_names[] = {"tcp", "none", NULL};
const char *const config_on_down_names[] = {"close", "keep", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_names[] = {"text", "json", NULL};

#define KEY(sname, field, ...) .name = sname, .off = offsetof(KEY_STRUCT, field), __VA_ARGS__
#define LIST(field)            .count_off = offsetof(KEY_STRUCT, field)

/* ---- health: one per backend ---------------------------------------------------------------- */

static void health_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_health
static const struct config_key health_keys[] = {
    {KEY("kind", kind, .type = CONFIG_T_ENUM, .names = config_check_kind_names, .def = "tcp",
         .help = "what a probe does")},
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
};
#undef KEY_STRUCT

const struct config_section config_health_section = {
    .name = "health",
    .size = sizeof(struct config_health),
    .keys = health_keys,
    .n_keys = sizeof(health_keys) / sizeof(health_keys[0]),
    .check = health_check,
};

/* ---- server --------------------------------------------------------------------------------- */

#define KEY_STRUCT struct config_server
static const struct config_key server_keys[] = {
    {KEY("address", address, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_TARGET,
         .flags = CONFIG_F_REQUIRED, .help = "host:port or [v6]:port to connect to")},
    {KEY("weight", weight, .type = CONFIG_T_UINT, .def = "1", .min = 0, .max = 256,
         .help = "share of new connections; 0 takes none")},
    {KEY("backup", backup, .type = CONFIG_T_BOOL, .def = "false",
         .help = "used only when no normal server is usable")},
};
#undef KEY_STRUCT

const struct config_section config_server_section = {
    .name = "server",
    .size = sizeof(struct config_server),
    .keys = server_keys,
    .n_keys = sizeof(server_keys) / sizeof(server_keys[0]),
    .shorthand = "address",
};

/* ---- backend -------------------------------------------------------------------------------- */

static void backend_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_backend
static const struct config_key backend_keys[] = {
    {KEY("name", name, .type = CONFIG_T_STRING, .flags = CONFIG_F_REQUIRED,
         .help = "unique backend name")},
    {KEY("balance", balance, .type = CONFIG_T_ENUM, .names = config_balance_names,
         .def = "roundrobin", .help = "how a server is picked for a new connection")},
    {KEY("connect_timeout", connect_timeout_ms, .type = CONFIG_T_DURATION, .def = "3s",
         .min = MS(10), .max = SEC(300), .help = "a slower connect is retried on the next server")},
    {KEY("idle_timeout", idle_timeout_ms, .type = CONFIG_T_DURATION, .def = "0", .min = 0,
         .max = 366 * 24 * HOUR, .help = "close after this long without data; 0 = never")},
    {KEY("servers", servers, .type = CONFIG_T_SECTION, .sub = &config_server_section,
         LIST(n_servers), .flags = CONFIG_F_LIST | CONFIG_F_REQUIRED, .help = "the servers")},
    {KEY("health", health, .type = CONFIG_T_SECTION, .sub = &config_health_section,
         .help = "active health checks")},
};
#undef KEY_STRUCT

const struct config_section config_backend_section = {
    .name = "backend",
    .size = sizeof(struct config_backend),
    .keys = backend_keys,
    .n_keys = sizeof(backend_keys) / sizeof(backend_keys[0]),
    .check = backend_check,
};

/* ---- frontend ------------------------------------------------------------------------------- */

#define KEY_STRUCT struct config_frontend
static const struct config_key frontend_keys[] = {
    {KEY("name", name, .type = CONFIG_T_STRING, .flags = CONFIG_F_REQUIRED,
         .help = "unique frontend name")},
    {KEY("listen", listen, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_LISTEN, LIST(n_listen),
         .flags = CONFIG_F_LIST | CONFIG_F_REQUIRED, .help = "addresses to accept on")},
    {KEY("backend", backend, .type = CONFIG_T_STRING, .flags = CONFIG_F_REQUIRED,
         .help = "backend that gets the connections")},
};
#undef KEY_STRUCT

const struct config_section config_frontend_section = {
    .name = "frontend",
    .size = sizeof(struct config_frontend),
    .keys = frontend_keys,
    .n_keys = sizeof(frontend_keys) / sizeof(frontend_keys[0]),
};

/* ---- admin, log ----------------------------------------------------------------------------- */

#define KEY_STRUCT struct config_admin
static const struct config_key admin_keys[] = {
    {KEY("listen", listen, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_ADMIN, .def = "127.0.0.1:8404",
         .flags = CONFIG_F_RESTART,
         .help = "status and API address: loopback host:port, unix:/path, or off")},
};
#undef KEY_STRUCT

const struct config_section config_admin_section = {
    .name = "admin",
    .size = sizeof(struct config_admin),
    .keys = admin_keys,
    .n_keys = sizeof(admin_keys) / sizeof(admin_keys[0]),
};

#define KEY_STRUCT struct config_log
static const struct config_key log_keys[] = {
    {KEY("level", level, .type = CONFIG_T_ENUM, .names = level_names, .def = "info",
         .help = "debug logs one line per connection")},
    {KEY("format", format, .type = CONFIG_T_ENUM, .names = format_names, .def = "text",
         .help = "text or json (one object per line)")},
};
#undef KEY_STRUCT

const struct config_section config_log_section = {
    .name = "log",
    .size = sizeof(struct config_log),
    .keys = log_keys,
    .n_keys = sizeof(log_keys) / sizeof(log_keys[0]),
};

/* ---- root ----------------------------------------------------------------------------------- */

#define KEY_STRUCT struct config
static const struct config_key root_keys[] = {
    {KEY("workers", workers, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 256,
         .flags = CONFIG_F_RESTART, .help = "worker threads; 0 = one per online CPU")},
    {KEY("grace", grace_ms, .type = CONFIG_T_DURATION, .def = "30s", .min = 0, .max = HOUR,
         .help = "on SIGTERM, how long open connections may finish")},
    {KEY("buffer_size", buffer_size, .type = CONFIG_T_SIZE, .def = "16k", .min = 1024,
         .max = 1024 * 1024, .help = "forwarding buffer per direction while data is in flight")},
    {KEY("maxconn", maxconn, .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 10000000,
         .help = "most client connections at once; 0 = what the open-file limit allows")},
    {KEY("admin", admin, .type = CONFIG_T_SECTION, .sub = &config_admin_section,
         .help = "status and runtime API listener")},
    {KEY("log", log, .type = CONFIG_T_SECTION, .sub = &config_log_section, .help = "logging")},
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
    .check = config_check_root,
};

int config_key_index(const struct config_section *sec, const char *name)
{
    for (size_t i = 0; i < sec->n_keys; i++)
        if (strcmp(sec->keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

struct config_mark config_mark_of(const struct config_obj *obj, const struct config_section *sec,
                                  const char *key)
{
    int i = config_key_index(sec, key);
    return i >= 0 && obj->keys[i].file ? obj->keys[i] : obj->mark;
}

static void health_check(void *obj, struct config_errors *errs)
{
    struct config_health *h = obj;
    char t[32], iv[32];
    if (h->timeout_ms > h->interval_ms) {
        config_format_duration(h->timeout_ms, t, sizeof(t));
        config_format_duration(h->interval_ms, iv, sizeof(iv));
        config_error_add(errs, config_mark_of(&h->obj, &config_health_section, "timeout"),
                         "timeout %s is longer than interval %s: a probe would overlap the next", t,
                         iv);
    }
}

static void backend_check(void *obj, struct config_errors *errs)
{
    struct config_backend *b = obj;
    if (b->n_servers == 0)
        config_error_add(errs, config_mark_of(&b->obj, &config_backend_section, "servers"),
                         "backend '%s' has no servers", b->name);
    for (size_t i = 0; i < b->n_servers; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(b->servers[i].address.text, b->servers[j].address.text) == 0)
                config_error_add(errs, b->servers[i].obj.mark,
                                 "server '%s' is listed twice in backend '%s' (first at line %u)",
                                 b->servers[i].address.text, b->name, b->servers[j].obj.mark.line);
}
