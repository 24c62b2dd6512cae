/* Checks that span objects: unique names, frontend -> backend references, listen addresses that
 * would collide. Runs after every object passed its own checks. */
#include "config/validate.h"
#include "config/keys.h"
#include "common/xalloc.h"
#include "config/node.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- finding equal names in n log n: a config of 100,000 servers must check in a blink ---- */

struct keyed {
    const char *key;
    size_t order;
};

static int by_key_then_order(const void *pa, const void *pb, void *nocase)
{
    const struct keyed *a = pa, *b = pb;
    int c = nocase ? strcasecmp(a->key, b->key) : strcmp(a->key, b->key);
    return c ? c : (a->order > b->order) - (a->order < b->order);
}

void config_first_equal(const char *const *keys, size_t n, bool nocase, size_t *first)
{
    struct keyed *v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (struct keyed){keys[i], i};
    qsort_r(v, n, sizeof(*v), by_key_then_order, nocase ? (void *)1 : NULL);
    for (size_t i = 0; i < n; i++) {
        bool same = i > 0 && (nocase ? strcasecmp(v[i].key, v[i - 1].key)
                                     : strcmp(v[i].key, v[i - 1].key)) == 0;
        first[v[i].order] = same ? first[v[i - 1].order] : SIZE_MAX;
        if (same && first[v[i].order] == SIZE_MAX)
            first[v[i].order] = v[i - 1].order;
    }
    free(v);
}

#define UNIQUE_NAMES(c, list, count, section, what)                                                \
    do {                                                                                           \
        const char **names = xcalloc((c)->count, sizeof(*names));                                  \
        size_t *first = xcalloc((c)->count, sizeof(*first));                                       \
        for (size_t i = 0; i < (c)->count; i++) /* "" for one whose name failed */                 \
            names[i] = (c)->list[i].name ? (c)->list[i].name : "";                                 \
        config_first_equal(names, (c)->count, false, first);                                       \
        for (size_t i = 0; i < (c)->count; i++)                                                    \
            if (first[i] != SIZE_MAX && names[i][0])                                               \
                config_error_add(errs, config_mark_of(&(c)->list[i].obj, section, "name"),         \
                                 what " name '%s' is used twice (first at line %u)", names[i],     \
                                 (c)->list[first[i]].obj.mark.line);                               \
        free(first);                                                                               \
        free(names);                                                                               \
    } while (0)

static void check_unique_names(struct config *c, struct config_errors *errs)
{
    UNIQUE_NAMES(c, frontends, n_frontends, &config_frontend_section, "frontend");
    UNIQUE_NAMES(c, backends, n_backends, &config_backend_section, "backend");
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The index of the backend called want (n_backends when none); an error at mark names the
 * closest one. */
static size_t resolve_one(const struct config *c, const char **names, const char **sorted,
                          const char *who, const char *want, struct config_mark mark,
                          struct config_errors *errs)
{
    const char **hit =
        want ? bsearch(&want, sorted, c->n_backends, sizeof(*sorted), name_cmp) : NULL;
    size_t b = c->n_backends;
    if (hit) /* the first backend of that name, as a linear search would find */
        for (b = 0; strcmp(names[b], *hit) != 0; b++)
            ;
    if (b < c->n_backends || !want)
        return b; /* found, or missing (said already) */
    const char *close = config_closest(want, names);
    config_error_add(errs, mark, "%s names backend '%s', which is not defined%s%s%s", who, want,
                     close ? " (did you mean '" : "", close ? close : "", close ? "'?)" : "");
    return b;
}

/* A server name in two routes of one frontend: which one wins would be a guess. */
static void check_route_names(const struct config_frontend *f, struct config_errors *errs)
{
    for (size_t r = 0; r < f->n_routes; r++)
        for (size_t i = 0; i < f->routes[r].n_sni; i++)
            for (size_t q = 0; q <= r; q++)
                for (size_t j = 0; j < (q == r ? i : f->routes[q].n_sni); j++)
                    if (strcmp(f->routes[r].sni[i], f->routes[q].sni[j]) == 0)
                        config_error_add(
                            errs, config_mark_of(&f->routes[r].obj, &config_route_section, "sni"),
                            "frontend '%s' routes '%s' twice (also at line %u)",
                            f->name ? f->name : "?", f->routes[r].sni[i],
                            config_mark_of(&f->routes[q].obj, &config_route_section, "sni").line);
}

static void resolve_backends(struct config *c, struct config_errors *errs)
{
    const char **names = xcalloc(c->n_backends + 1, sizeof(*names));
    const char **sorted = xcalloc(c->n_backends + 1, sizeof(*sorted));
    char who[160];
    for (size_t i = 0; i < c->n_backends; i++)
        names[i] = sorted[i] = c->backends[i].name ? c->backends[i].name : "";
    qsort(sorted, c->n_backends, sizeof(*sorted), name_cmp);
    for (size_t i = 0; i < c->n_frontends; i++) {
        struct config_frontend *f = &c->frontends[i];
        snprintf(who, sizeof(who), "frontend '%s'", f->name ? f->name : "?");
        f->backend_index =
            resolve_one(c, names, sorted, who, f->backend,
                        config_mark_of(&f->obj, &config_frontend_section, "backend"), errs);
        for (size_t r = 0; r < f->n_routes; r++) {
            struct config_route *cr = &f->routes[r];
            snprintf(who, sizeof(who), "a route of frontend '%s'", f->name ? f->name : "?");
            cr->backend_index =
                resolve_one(c, names, sorted, who, cr->backend,
                            config_mark_of(&cr->obj, &config_route_section, "backend"), errs);
        }
        check_route_names(f, errs);
    }
    free(sorted);
    free(names);
}

/* ---- requires: join readiness across backends -------------------------------------------- */

static int host_cmp(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t backend_named(const struct config *c, const char *name)
{
    size_t b = 0;
    while (b < c->n_backends && !(c->backends[b].name && strcmp(c->backends[b].name, name) == 0))
        b++;
    return b;
}

/* Every server of b has a server on its host in backend r: else it could never take traffic. */
static void check_required_hosts(const struct config_backend *b, const struct config_backend *r,
                                 struct config_errors *errs)
{
    const char **hosts = xcalloc(r->n_servers + 1, sizeof(*hosts));
    size_t n = 0;
    for (size_t i = 0; i < r->n_servers; i++)
        if (r->servers[i].address.host)
            hosts[n++] = r->servers[i].address.host;
    qsort(hosts, n, sizeof(*hosts), host_cmp);
    for (size_t i = 0; i < b->n_servers; i++) {
        const struct net_addr *a = &b->servers[i].address;
        if (a->host && !bsearch(&a->host, hosts, n, sizeof(*hosts), host_cmp))
            config_error_add(errs, b->servers[i].obj.mark,
                             "server '%s' of backend '%s' requires a server of backend '%s' on "
                             "host %s, and there is none",
                             a->text, b->name, r->name, a->host);
    }
    free(hosts);
}

/* Depth-first from b: true when the requirements lead back to a backend on the path. */
static bool requires_circle(const struct config *c, size_t b, unsigned char *state)
{
    bool circle = false;
    state[b] = 1; /* on the path */
    for (size_t i = 0; i < c->backends[b].n_requires && !circle; i++) {
        size_t r = backend_named(c, c->backends[b].requires[i]);
        if (r < c->n_backends && r != b)
            circle = state[r] == 1 || (state[r] == 0 && requires_circle(c, r, state));
    }
    state[b] = 2; /* done */
    return circle;
}

static void check_requires(const struct config *c, struct config_errors *errs)
{
    const char **names = xcalloc(c->n_backends + 1, sizeof(*names));
    unsigned char *state = xcalloc(c->n_backends + 1, 1);
    for (size_t i = 0; i < c->n_backends; i++)
        names[i] = c->backends[i].name ? c->backends[i].name : "";
    for (size_t b = 0; b < c->n_backends; b++) {
        const struct config_backend *cb = &c->backends[b];
        struct config_mark at = config_mark_of(&cb->obj, &config_backend_section, "requires");
        for (size_t i = 0; i < cb->n_requires; i++) {
            const char *want = cb->requires[i];
            size_t r = backend_named(c, want);
            const char *close = r < c->n_backends ? NULL : config_closest(want, names);
            if (r == b)
                config_error_add(errs, at, "backend '%s' requires itself", cb->name);
            else if (r < c->n_backends)
                check_required_hosts(cb, &c->backends[r], errs);
            else
                config_error_add(errs, at,
                                 "backend '%s' requires backend '%s', which is not "
                                 "defined%s%s%s",
                                 cb->name ? cb->name : "?", want, close ? " (did you mean '" : "",
                                 close ? close : "", close ? "'?)" : "");
        }
        if (state[b] == 0 && requires_circle(c, b, state))
            config_error_add(errs, at,
                             "the requires of backend '%s' lead around a circle: the servers on "
                             "it could never take traffic",
                             cb->name ? cb->name : "?");
    }
    free(state);
    free(names);
}

/* ---- announce: the frontends whose health decides are ones the config has; a stop delayed -- */

static void check_announce(const struct config *c, struct config_errors *errs)
{
    const struct config_announce *a = &c->announce;
    const char **names = xcalloc(c->n_frontends + 1, sizeof(*names));
    if (a->n_addresses && c->user)
        config_error_add(errs, config_mark_of(&c->obj, &config_root_section, "user"),
                         "announce renews its addresses as long as k3lb runs, which needs "
                         "CAP_NET_ADMIN after start too: run k3lb as that user with the "
                         "capability (systemd: User= and AmbientCapabilities=CAP_NET_ADMIN) "
                         "instead of 'user:'");
    if (a->n_addresses && !c->stop_delay_ms)
        config_warning_add(errs, a->obj.mark,
                           "announce with stop_delay 0s: on a stop the listeners close as the "
                           "addresses are withdrawn, and what the routers send until they have "
                           "heard is refused; 2s covers BFD-fast routers");
    for (size_t i = 0; i < c->n_frontends; i++)
        names[i] = c->frontends[i].name ? c->frontends[i].name : "";
    for (size_t i = 0; i < a->n_frontends; i++) {
        size_t f = 0;
        while (f < c->n_frontends && strcmp(names[f], a->frontends[i]) != 0)
            f++;
        if (f == c->n_frontends) {
            const char *close = config_closest(a->frontends[i], names);
            config_error_add(errs, a->obj.mark, "announce: frontend '%s' is not defined%s%s%s",
                             a->frontends[i], close ? " (did you mean '" : "", close ? close : "",
                             close ? "'?)" : "");
        }
    }
    free(names);
}

/* One listen address of a frontend, for the collision check. */
struct listen_ref {
    const struct net_addr *addr;
    const struct config_frontend *front;
    size_t order; /* in config order over all frontends */
};

static int by_port_then_order(const void *pa, const void *pb)
{
    const struct listen_ref *a = pa, *b = pb;
    if (a->addr->kind != b->addr->kind)
        return a->addr->kind < b->addr->kind ? -1 : 1;
    if (a->addr->port != b->addr->port)
        return a->addr->port < b->addr->port ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

/* Within one port (or among unix paths): each address collides with the earliest one before it
 * that binds the same host, or with an earlier wildcard, or (a wildcard) with any earlier. */
static void check_port_group(const struct listen_ref *g, size_t n, struct config_errors *errs)
{
    const char **hosts = xcalloc(n, sizeof(*hosts));
    size_t *first = xcalloc(n, sizeof(*first)), wild = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        const struct net_addr *a = g[i].addr;
        hosts[i] = a->kind == NET_ADDR_UNIX ? a->path : a->host ? a->host : "";
    }
    config_first_equal(hosts, n, g[0].addr->kind == NET_ADDR_INET, first);
    for (size_t i = 0; i < n; i++) {
        size_t with = first[i]; /* the earliest before it on the same host, or none */
        bool is_wild = config_addr_is_wildcard(g[i].addr);
        if (wild < with)
            with = wild; /* an earlier wildcard takes every host */
        if (is_wild && i > 0)
            with = 0; /* a wildcard takes what came first on the port */
        if (with != SIZE_MAX)
            config_error_add(
                errs, config_mark_of(&g[i].front->obj, &config_frontend_section, "listen"),
                "listen address '%s' of frontend '%s' collides with '%s' of frontend '%s'",
                g[i].addr->text, g[i].front->name, g[with].addr->text, g[with].front->name);
        if (is_wild && wild == SIZE_MAX)
            wild = i;
    }
    free(first);
    free(hosts);
}

/* Every listen address of every frontend, plus the admin one, must be bindable together. */
static void check_listen_overlaps(struct config *c, struct config_errors *errs)
{
    size_t n = 0, k = 0;
    for (size_t i = 0; i < c->n_frontends; i++)
        n += c->frontends[i].n_listen;
    struct listen_ref *v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < c->n_frontends; i++)
        for (size_t a = 0; a < c->frontends[i].n_listen; a++) {
            if (!c->frontends[i].listen[a].text)
                continue; /* it failed to parse: said already */
            v[k] = (struct listen_ref){&c->frontends[i].listen[a], &c->frontends[i], k};
            if (c->admin.listen.port && config_addr_overlap(v[k].addr, &c->admin.listen))
                config_error_add(
                    errs, config_mark_of(&c->frontends[i].obj, &config_frontend_section, "listen"),
                    "listen address '%s' of frontend '%s' collides with the admin listener '%s'",
                    v[k].addr->text, c->frontends[i].name, c->admin.listen.text);
            k++;
        }
    n = k;
    qsort(v, n, sizeof(*v), by_port_then_order);
    for (size_t start = 0, end; start < n; start = end) {
        for (end = start + 1; end < n && v[end].addr->kind == v[start].addr->kind &&
                              v[end].addr->port == v[start].addr->port;
             end++)
            ;
        check_port_group(v + start, end - start, errs);
    }
    free(v);
}

/* Frontend f sends clients to backend b: as its default or through a route. */
static bool config_frontend_uses(const struct config_frontend *f, size_t b)
{
    if (f->backend_index == b)
        return true;
    for (size_t i = 0; i < f->n_routes; i++)
        if (f->routes[i].backend_index == b)
            return true;
    return false;
}

/* What loads but is likely a mistake: a backend no frontend uses (nor any backend requires), and an
 * etcd backend with an even member count (2k members tolerate no more failures than 2k - 1, with
 * one more to fail). */
static void warn_root(const struct config *c, struct config_errors *errs)
{
    for (size_t b = 0; b < c->n_backends; b++) {
        const struct config_backend *cb = &c->backends[b];
        bool used = false;
        for (size_t f = 0; f < c->n_frontends && !used; f++)
            used = config_frontend_uses(&c->frontends[f], b);
        for (size_t r = 0; r < c->n_backends && !used && cb->name; r++) /* a requirement */
            for (size_t i = 0; i < c->backends[r].n_requires && !used; i++)
                used = strcmp(c->backends[r].requires[i], cb -> name) == 0;
        if (!used && cb->name)
            config_warning_add(errs, cb->obj.mark,
                               "backend '%s' is not used by any frontend or requires", cb->name);
        bool etcd = cb->role == CONFIG_ROLE_ETCD || cb->health.kind == CONFIG_CHECK_ETCD;
        if (etcd && cb->n_servers >= 2 && cb->n_servers % 2 == 0)
            config_warning_add(errs, config_mark_of(&cb->obj, &config_backend_section, "servers"),
                               "backend '%s' has %zu etcd members: an even number survives "
                               "no more failures than %zu members would; use an odd number",
                               cb->name ? cb->name : "?", cb->n_servers, cb->n_servers - 1);
    }
}

void config_validate(struct config *c, struct config_errors *errs)
{
    bool clean = errs->in_object == 0; /* a list that failed to parse is not an empty one */
    if (c->n_frontends == 0 && clean)
        config_error_add(errs, c->obj.mark, "no frontends: nothing would listen");
    if (c->n_backends == 0 && clean)
        config_error_add(errs, c->obj.mark, "no backends: nothing to forward to");
    check_unique_names(c, errs);
    resolve_backends(c, errs);
    check_requires(c, errs);
    check_announce(c, errs);
    check_listen_overlaps(c, errs);
    warn_root(c, errs);
}
