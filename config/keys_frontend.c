/* The keyword tables of a frontend and its SNI routes, and the checks of one frontend or route
 * (a route's names are host names, kept in lower case, as the hello's name is compared). Part
 * of the one key table (config/keys.c); the cross-object checks are config/validate.c's. */
#include "config/keys.h"

#include "config/node.h"
#include "config/value.h"

#include <string.h>

/* ---- frontend ------------------------------------------------------------------------------- */

static void route_check(void *obj, struct config_errors *errs);

#define KEY_STRUCT struct config_route
static const struct config_key route_keys[] = {
    {KEY("sni", sni, .type = CONFIG_T_STRING, LIST(n_sni),
         .flags = CONFIG_F_LIST | CONFIG_F_REQUIRED,
         .help = "server names of the clients' TLS hello: exact (api.a.example) or *.suffix (any "
                 "name ending in .suffix); an exact name wins over wildcards, a longer suffix over "
                 "a shorter")},
    {KEY("backend", backend, .type = CONFIG_T_STRING, .flags = CONFIG_F_REQUIRED,
         .help = "backend that gets those clients")},
};
#undef KEY_STRUCT

const struct config_section config_route_section = {
    .name = "route",
    .size = sizeof(struct config_route),
    .keys = route_keys,
    .n_keys = sizeof(route_keys) / sizeof(route_keys[0]),
    .check = route_check,
};

/* A route's name: a host name (letters, digits, '-', '_', dots between labels), optionally
 * behind "*."; kept in lower case, as the hello's name is compared. */
static const char *route_name_fault(char *name)
{
    char *s = name;
    size_t label = 0;
    if (s[0] == '*' && s[1] == '.')
        s += 2;
    if (!*s)
        return "is empty";
    if (strlen(s) > 253)
        return "is longer than 253 characters";
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
        if (*s == '.') {
            if (!label)
                return "has an empty label";
            label = 0;
        } else if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_') {
            if (++label > 63)
                return "has a label longer than 63 characters";
        } else {
            return *s == '*' ? "has '*' elsewhere than a leading '*.'"
                             : "has a character a host name cannot have";
        }
    }
    return label ? NULL : "ends with a dot";
}

static void route_check(void *obj, struct config_errors *errs)
{
    struct config_route *r = obj;
    for (size_t i = 0; i < r->n_sni; i++) {
        const char *fault = route_name_fault(r->sni[i]);
        if (fault)
            config_error_add(errs, config_mark_of(&r->obj, &config_route_section, "sni"),
                             "route name '%s' %s", r->sni[i], fault);
    }
}

#define KEY_STRUCT struct config_frontend
static const struct config_key frontend_keys[] = {
    {KEY("name", name, .type = CONFIG_T_STRING, .flags = CONFIG_F_REQUIRED,
         .help = "unique frontend name")},
    {KEY("listen", listen, .type = CONFIG_T_ADDR, .use = CONFIG_ADDR_LISTEN, LIST(n_listen),
         .flags = CONFIG_F_LIST | CONFIG_F_REQUIRED, .help = "addresses to accept on")},
    {KEY("backend", backend, .type = CONFIG_T_STRING,
         .help = "backend that gets the connections; with routes, the clients no route takes "
                 "(no TLS, no server name, no match, no hello in hello_timeout), or none: they "
                 "are closed")},
    {KEY("routes", routes, .type = CONFIG_T_SECTION, .sub = &config_route_section, LIST(n_routes),
         .flags = CONFIG_F_LIST,
         .help = "route TLS clients by the server name of their hello (SNI), which goes on "
                 "untouched: TLS passes through")},
    {KEY("hello_timeout", hello_timeout_ms, .type = CONFIG_T_DURATION, .def = "5s", .min = MS(10),
         .max = SEC(60),
         .help = "routes: time for the client's TLS hello; a client still silent then goes to "
                 "backend (a protocol where the server speaks first)")},
    {KEY("tls_san", tls_san, .type = CONFIG_T_STRING, LIST(n_tls_san), .flags = CONFIG_F_LIST,
         .help = "names clients use for this address; servers' certificates must cover them")},
    {KEY("access_log", access_log, .type = CONFIG_T_BOOL, .def = "false",
         .help = "log one line per finished connection")},
    {KEY("allow", allow, .type = CONFIG_T_CIDR, LIST(n_allow), .flags = CONFIG_F_LIST,
         .help = "serve only clients from these addresses or networks (10.0.0.0/8, fd00::/8); "
                 "default: every client")},
    {KEY("deny", deny, .type = CONFIG_T_CIDR, LIST(n_deny), .flags = CONFIG_F_LIST,
         .help = "refuse clients from these addresses or networks, before allow is asked; a "
                 "refused client is closed at once (a reset) and counted as denied")},
    {KEY("source_max_conns", source_max_conns, .type = CONFIG_T_UINT, .def = "0", .min = 0,
         .max = 1000000,
         .help = "connections one client address may have open at once; one more is reset and "
                 "counted (limited_conns); 0: no limit")},
    {KEY("source_max_rate", source_max_rate, .type = CONFIG_T_UINT, .def = "0", .min = 0,
         .max = 1000000,
         .help = "new connections one client address may open per second (a sliding second; "
                 "refused ones do not count); more are reset and counted (limited_rate); 0: "
                 "no limit")},
    {KEY("source_ipv6_prefix", source_ipv6_prefix, .type = CONFIG_T_UINT, .def = "128", .min = 16,
         .max = 128,
         .help = "source limits count IPv6 clients per prefix of this length (64: per "
                 "subnet, as one host may use many addresses of its /64)")},
    {KEY("accept_proxy", accept_proxy, .type = CONFIG_T_BOOL, .def = "false",
         .help = "clients start with a PROXY protocol header (v1 or v2; another proxy in "
                 "front): its source is the client's address from then on; a missing or bad "
                 "header closes the connection, with a log line")},
    {KEY("proxy_timeout", proxy_timeout_ms, .type = CONFIG_T_DURATION, .def = "3s", .min = MS(10),
         .max = SEC(60), .help = "accept_proxy: time for the header to arrive")},
    {KEY("freebind", freebind, .type = CONFIG_T_BOOL, .def = "false",
         .help = "listen on addresses the host does not have (yet), such as a virtual IP held "
                 "by the peer; restart to change")},
};
#undef KEY_STRUCT

/* The listen addresses carry the frontend's freebind to where the sockets are made. */
static void frontend_check(void *obj, struct config_errors *errs)
{
    struct config_frontend *f = obj;
    if (!f->backend && !f->n_routes)
        config_error_add(errs, f->obj.mark, "frontend '%s' needs a backend or routes",
                         f->name ? f->name : "?");
    for (size_t i = 0; i < f->n_listen; i++)
        f->listen[i].freebind = f->freebind;
}

const struct config_section config_frontend_section = {
    .check = frontend_check,
    .name = "frontend",
    .size = sizeof(struct config_frontend),
    .keys = frontend_keys,
    .n_keys = sizeof(frontend_keys) / sizeof(frontend_keys[0]),
};
