/* Server lists changed at run time: the agent's learned lists, and servers added, drained,
 * removed or re-weighted through the admin API. Every change builds a new view (runtime.c),
 * and the changes are kept across reloads. Main thread. */
#include "runtime/servers.h"

#include "runtime/runtime-int.h"

#include "config/value.h"
#include "health/health.h"
#include "lb/balance.h"
#include "lb/server.h"
#include "lb/view.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int runtime_set_servers(struct runtime *rt, const char *backend, const char *const *addresses,
                        size_t n, char *err, size_t errlen)
{
    const struct config_backend *cb = NULL;
    struct config_server *list;
    struct runtime_list *l;
    char why[256];

    for (size_t i = 0; i < rt->view->cfg->n_backends && !cb; i++)
        if (strcmp(rt->view->cfg->backends[i].name, backend) == 0)
            cb = &rt->view->cfg->backends[i];
    if (!cb) {
        snprintf(err, errlen, "no backend '%s'", backend);
        return -1;
    }
    list = xcalloc(n, sizeof(*list));
    for (size_t i = 0; i < n; i++) {
        list[i].weight = 1;
        if (!config_parse_addr(addresses[i], CONFIG_ADDR_TARGET, &list[i].address, why,
                               sizeof(why))) {
            snprintf(err, errlen, "%s", why);
            for (size_t j = 0; j < i; j++)
                config_addr_free(&list[j].address);
            free(list);
            return -1;
        }
    }
    l = runtime_lists_get(&rt->lists, backend);
    runtime_list_set_servers(l, list, n);
    l->replaced = true;
    return rt_install(rt, rt->view->cfg, true, err, errlen);
}

/* ---- servers changed through the API --------------------------------------------------------- */

static void drain_tick(evutil_socket_t fd, short what, void *arg);

/* Looks for drained servers five times a second while any removal waits. */
static void arm_drain(struct runtime *rt)
{
    struct timeval tick = {0, 200000};
    if (!rt->drain_timer)
        rt->drain_timer = event_new(rt->base, -1, EV_PERSIST, drain_tick, rt);
    if (rt->drain_timer && !event_pending(rt->drain_timer, EV_TIMEOUT, NULL))
        event_add(rt->drain_timer, &tick);
}

const struct lb_pool *runtime_pool(const struct runtime *rt, const char *backend)
{
    for (size_t i = 0; i < rt->view->n_pools; i++)
        if (strcmp(rt->view->pools[i].cfg->name, backend) == 0)
            return &rt->view->pools[i];
    return NULL;
}

struct lb_server *runtime_server(const struct runtime *rt, const char *backend, const char *address)
{
    const struct lb_pool *p = runtime_pool(rt, backend);
    for (size_t i = 0; p && i < p->n; i++)
        if (strcmp(p->srv[i]->address, address) == 0)
            return p->srv[i];
    return NULL;
}

enum lb_api runtime_add_server(struct runtime *rt, const char *backend, const char *address,
                               unsigned weight, char *err, size_t errlen)
{
    struct config_server cs = {.weight = weight};
    struct runtime_list *l;
    char why[256];

    if (!runtime_pool(rt, backend)) {
        snprintf(err, errlen, "no backend '%s'", backend);
        return LB_API_NOT_FOUND;
    }
    if (!config_parse_addr(address, CONFIG_ADDR_TARGET, &cs.address, why, sizeof(why))) {
        snprintf(err, errlen, "%s", why);
        return LB_API_INVALID;
    }
    if (runtime_server(rt, backend, cs.address.text)) {
        snprintf(err, errlen, "server %s is already in backend '%s'", cs.address.text, backend);
        config_addr_free(&cs.address);
        return LB_API_CONFLICT;
    }
    l = runtime_lists_get(&rt->lists, backend);
    if (l->replaced) {
        snprintf(err, errlen, "backend '%s' takes its servers from the agent's sources", backend);
        config_addr_free(&cs.address);
        return LB_API_CONFLICT;
    }
    runtime_strings_drop(l->removed, &l->n_removed, cs.address.text);
    runtime_strings_drop(l->draining, &l->n_draining, cs.address.text);
    l->servers = xreallocarray(l->servers, l->n + 1, sizeof(*l->servers));
    l->servers[l->n++] = cs;
    log_info("server_added", "%s/%s added through the API", backend, cs.address.text);
    return rt_install(rt, rt->view->cfg, false, err, errlen) < 0 ? LB_API_INVALID : LB_API_OK;
}

/* Takes a server out of the backend's list now (what a finished drain does). */
static int remove_now(struct runtime *rt, struct runtime_list *l, const char *which, char *err,
                      size_t errlen)
{
    char address[NET_ADDRSTRLEN];
    snprintf(address, sizeof(address), "%s", which); /* which may be freed just below */
    runtime_strings_drop(l->draining, &l->n_draining, address);
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->servers[i].address.text, address) == 0) {
            config_addr_free(&l->servers[i].address);
            l->servers[i] = l->servers[--l->n];
            break;
        }
    runtime_strings_add(&l->removed, &l->n_removed, address);
    log_info("server_removed", "%s/%s removed", l->backend, address);
    return rt_install(rt, rt->view->cfg, true, err, errlen);
}

enum lb_api runtime_remove_server(struct runtime *rt, const char *backend, const char *address,
                                  bool force, char *err, size_t errlen)
{
    struct lb_server *s = runtime_server(rt, backend, address);
    struct runtime_list *l;
    if (!s) {
        snprintf(err, errlen, "no server %s in backend '%s'", address, backend);
        return LB_API_NOT_FOUND;
    }
    l = runtime_lists_get(&rt->lists, backend);
    if (l->replaced) {
        snprintf(err, errlen, "backend '%s' takes its servers from the agent's sources", backend);
        return LB_API_CONFLICT;
    }
    if (force || lb_server_active(s) == 0)
        return remove_now(rt, l, s->address, err, errlen) < 0 ? LB_API_INVALID : LB_API_OK;
    atomic_store(&s->admin, LB_ADMIN_DRAIN);
    runtime_strings_add(&l->draining, &l->n_draining, s->address);
    arm_drain(rt);
    log_info("server_draining", "%s/%s draining before removal (%llu connections)", backend,
             s->address, (unsigned long long)lb_server_active(s));
    return LB_API_ACCEPTED;
}

/* Finishes the removals whose servers have no connection left. */
static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct runtime *rt = arg;
    char err[256];
    (void)fd;
    (void)what;
    for (size_t i = 0; i < rt->lists.n; i++) {
        struct runtime_list *l = &rt->lists.v[i];
        for (size_t j = 0; j < l->n_draining; j++) {
            struct lb_server *s = runtime_server(rt, l->backend, l->draining[j]);
            if (!s || lb_server_active(s) == 0) {
                remove_now(rt, l, l->draining[j], err, sizeof(err));
                j = (size_t)-1; /* the list changed under us: look again from the start */
            }
        }
    }
    for (size_t i = 0; i < rt->lists.n; i++)
        if (rt->lists.v[i].n_draining)
            return;
    event_del(rt->drain_timer); /* nothing waits: armed again by the next drain */
}

/* s is usable and no other server of its backend is. */
static bool last_usable(const struct runtime *rt, const char *backend, const struct lb_server *s)
{
    const struct lb_pool *p = runtime_pool(rt, backend);
    return p && lb_server_usable(s) && lb_pool_usable(p) == 1;
}

enum lb_api runtime_set_server(struct runtime *rt, const char *backend, const char *address,
                               int admin, int weight, bool force, char *err, size_t errlen)
{
    struct lb_server *s = runtime_server(rt, backend, address);
    bool takes_out = admin == LB_ADMIN_DRAIN || admin == LB_ADMIN_MAINT || weight == 0;
    if (!s) {
        snprintf(err, errlen, "no server %s in backend '%s'", address, backend);
        return LB_API_NOT_FOUND;
    }
    if (takes_out && !force && last_usable(rt, backend, s)) {
        snprintf(err, errlen,
                 "%s is the last usable server of backend '%s': new clients would find none; "
                 "--force (?force=true) does it all the same",
                 s->address, backend);
        return LB_API_CONFLICT;
    }
    if (weight >= 0) {
        atomic_store(&s->weight, (unsigned)weight);
        s->weight_pinned = true; /* a reload keeps the operator's weight */
    }
    if (admin >= 0) {
        struct runtime_list *l = runtime_lists_find(&rt->lists, backend);
        int old = atomic_exchange(&s->admin, admin);
        if (l && admin == LB_ADMIN_READY)
            runtime_strings_drop(l->draining, &l->n_draining,
                                 s->address); /* a pending removal ends */
        if (s->health)
            health_target_pause(s->health, admin == LB_ADMIN_MAINT);
        if (old != admin)
            log_info("server_admin", "%s/%s: %s -> %s", backend, s->address,
                     lb_admin_state_names[old], lb_admin_state_names[admin]);
    }
    return LB_API_OK;
}
