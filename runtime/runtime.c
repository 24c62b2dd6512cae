/* Main-thread orchestration of listeners, servers, views and workers. */
#include "runtime/runtime-int.h"

#include "runtime/guards.h"
#include "runtime/listeners.h"

#include "config/config.h"
#include "config/value.h"
#include "health/health.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "common/net.h"
#include "lb/balance.h"
#include "lb/queue.h"
#include "lb/source.h"
#include "lb/server.h"
#include "lb/view.h"
#include "runtime/sticky.h"
#include "common/upgrade.h"
#include "common/xalloc.h"
#include "lb/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- views ---------------------------------------------------------------------------------- */

static struct lb_front *get_front(struct runtime *rt, const char *name, struct lb_front **next,
                                  size_t *n_next)
{
    struct lb_front *f = NULL;
    for (size_t i = 0; i < rt->n_fronts && !f; i++)
        if (strcmp(rt->fronts[i]->name, name) == 0)
            f = rt->fronts[i];
    if (!f) {
        f = xcalloc(1, sizeof(*f));
        f->name = xstrdup(name);
    }
    f->refs += 2; /* one for the view, one for the new registry */
    next[(*n_next)++] = f;
    return f;
}

static struct lb_server *get_server(struct runtime *rt, const struct lb_server_ctx *ctx,
                                    const struct config_server *cs, struct lb_server **next,
                                    size_t *n_next)
{
    struct lb_server *s = NULL;
    for (size_t i = 0; i < rt->n_servers && !s; i++)
        if (strcmp(rt->servers[i]->backend, ctx->backend) == 0 &&
            strcmp(rt->servers[i]->address, cs->address.text) == 0 &&
            lb_server_same_proxy(rt->servers[i], ctx->proxy))
            s = lb_server_ref(rt->servers[i]); /* a new proxy makes a new server */
    if (s)
        lb_server_configure(s, ctx, cs);
    else
        s = lb_server_new(ctx, cs, rt->health);
    next[(*n_next)++] = lb_server_ref(s);
    return s;
}

/* The tls_san names of every frontend that sends traffic to backend b. */
static const char **sans_of(const struct config *cfg, size_t b, size_t *n)
{
    const char **names = NULL;
    *n = 0;
    for (size_t i = 0; i < cfg->n_frontends; i++) {
        const struct config_frontend *f = &cfg->frontends[i];
        if (f->backend_index != b)
            continue;
        names = xreallocarray(names, *n + f->n_tls_san, sizeof(*names));
        for (size_t j = 0; j < f->n_tls_san; j++)
            names[(*n)++] = f->tls_san[j];
    }
    return names;
}

static size_t count_servers(const struct runtime *rt, const struct config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_backends; i++)
        n += cfg->backends[i].n_servers;
    for (size_t i = 0; i < rt->lists.n; i++)
        n += rt->lists.v[i].n;
    return n;
}

static size_t count_listens(const struct config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_frontends; i++)
        n += cfg->frontends[i].n_listen;
    return n;
}

/* Config servers minus those removed through the API, plus those added through it. */
static void fill_changed(struct runtime *rt, struct lb_pool *p, const struct lb_server_ctx *ctx,
                         const struct runtime_list *list, struct lb_server **servers,
                         size_t *n_servers)
{
    const struct config_backend *cb = p->cfg;
    for (size_t i = 0; i < cb->n_servers; i++)
        if (!list ||
            !runtime_strings_has(list->removed, list->n_removed, cb->servers[i].address.text))
            p->srv[p->n++] = get_server(rt, ctx, &cb->servers[i], servers, n_servers);
    struct lb_server_ctx added = *ctx;
    added.added = true;
    for (size_t i = 0; list && i < list->n; i++)
        if (!runtime_lists_has_server(cb->servers, cb->n_servers, list->servers[i].address.text))
            p->srv[p->n++] = get_server(rt, &added, &list->servers[i], servers, n_servers);
}

static void fill_pool(struct runtime *rt, struct lb_pool *p, const struct lb_server_ctx *ctx,
                      struct lb_server **servers, size_t *n_servers)
{
    const struct config_backend *cb = p->cfg;
    const struct runtime_list *list = runtime_lists_find(&rt->lists, cb->name);
    bool sticky = cb->balance == CONFIG_BALANCE_STICKY;
    size_t n_list = list ? list->n : 0;

    p->srv = xreallocarray(NULL, n_list + cb->n_servers, sizeof(*p->srv));
    p->n = 0;
    if (!list || !list->replaced) {
        fill_changed(rt, p, ctx, list, servers, n_servers);
        return;
    }
    for (size_t i = 0; i < n_list; i++) {
        struct lb_server *s = get_server(rt, ctx, &list->servers[i], servers, n_servers);
        s->is_default = sticky && runtime_lists_has_server(cb->servers, cb->n_servers, s->address);
        s->standby = false;
        p->srv[p->n++] = s;
    }
    for (size_t i = 0; i < cb->n_servers; i++) {
        if (!sticky ||
            runtime_lists_has_server(list->servers, list->n, cb->servers[i].address.text))
            continue;
        struct lb_server *s = get_server(rt, ctx, &cb->servers[i], servers, n_servers);
        s->is_default = sticky;
        s->standby = sticky;
        p->srv[p->n++] = s;
    }
}

static void build_pools(struct runtime *rt, struct lb_view *v, struct lb_server **servers,
                        size_t *n_servers)
{
    const struct config *cfg = v->cfg;
    v->n_pools = cfg->n_backends;
    v->pools = xcalloc(v->n_pools, sizeof(*v->pools));
    for (size_t b = 0; b < cfg->n_backends; b++) {
        const struct config_backend *cb = &cfg->backends[b];
        struct lb_pool *p = &v->pools[b];
        p->cfg = cb;
        p->balance = cb->balance;
        p->queue = lb_queue_new();
        struct lb_server_ctx ctx = {.backend = cb->name,
                                    .hc = &cb->health,
                                    .sticky = cb->balance == CONFIG_BALANCE_STICKY,
                                    .dns = rt->dns,
                                    .base = rt->base,
                                    .resolve_every_ms = cfg->resolve_interval_ms,
                                    .proxy = cb->http_proxy,
                                    .slowstart_ms = cb->slowstart_ms};
        const char **sans = sans_of(cfg, b, &ctx.n_sans);
        ctx.sans = sans;
        fill_pool(rt, p, &ctx, servers, n_servers);
        free(sans);
    }
}

/* Opens what is new and references what is kept; on error releases what it took. */
static int build_fronts(struct runtime *rt, struct lb_view *v, struct lb_front **fronts,
                        size_t *n_fronts, struct lb_listen **listens, size_t *n_listens, char *err,
                        size_t errlen)
{
    const struct config *cfg = v->cfg;
    v->fronts = xcalloc(cfg->n_frontends, sizeof(*v->fronts));
    for (size_t i = 0; i < cfg->n_frontends; i++) {
        const struct config_frontend *cf = &cfg->frontends[i];
        struct lb_view_front *vf = &v->fronts[i];
        vf->cfg = cf;
        vf->pool = cf->backend_index;
        vf->front = get_front(rt, cf->name, fronts, n_fronts);
        if ((cf->source_max_conns || cf->source_max_rate) && !atomic_load(&vf->front->src))
            atomic_store(&vf->front->src, lb_source_new()); /* before workers see the view */
        vf->listen = xreallocarray(NULL, cf->n_listen, sizeof(*vf->listen));
        v->n_fronts = i + 1;
        for (size_t j = 0; j < cf->n_listen; j++) {
            struct lb_listen *l = runtime_listen_find(rt->listens, rt->n_listens, &cf->listen[j]);
            if (l)
                l->refs++;
            else if (!(l = runtime_listen_open(&cf->listen[j], rt->n_workers,
                                               cf->backend_index < cfg->n_backends &&
                                                   cfg->backends[cf->backend_index].balance ==
                                                       CONFIG_BALANCE_STICKY,
                                               err, errlen)))
                return -1;
            vf->listen[vf->n_listen++] = l;
            l->refs++;
            listens[(*n_listens)++] = l;
        }
    }
    return 0;
}

static void release_registry(struct runtime *rt)
{
    for (size_t i = 0; i < rt->n_servers; i++)
        lb_server_unref(rt->servers[i]);
    for (size_t i = 0; i < rt->n_fronts; i++)
        lb_front_unref(rt->fronts[i]);
    for (size_t i = 0; i < rt->n_listens; i++)
        lb_listen_unref(rt->listens[i]);
    free(rt->servers);
    free(rt->fronts);
    free(rt->listens);
}

void rt_close_server_conns(struct runtime *rt, struct lb_server *s)
{
    for (unsigned i = 0; i < rt->n_workers; i++)
        lb_worker_post(rt->workers[i], LB_WORKER_CLOSE_SERVER, s);
}

/* Recomputes the states of every sticky backend that contains server (or all, for NULL). */
static void sticky_update(struct runtime *rt, const struct lb_server *server)
{
    for (size_t i = 0; rt->view && i < rt->view->n_pools; i++) {
        const struct lb_pool *p = &rt->view->pools[i];
        bool member = !server;
        if (p->balance != CONFIG_BALANCE_STICKY)
            continue;
        for (size_t j = 0; j < p->n && !member; j++)
            member = p->srv[j] == server;
        if (!member)
            continue;
        struct runtime_sticky_memo *memo = &runtime_lists_get(&rt->lists, p->cfg->name)->memo;
        char before[sizeof(memo->active)];
        snprintf(before, sizeof(before), "%s", memo->active);
        if (runtime_sticky_update(p, memo, clock_now_ms())) /* consolidate on the new ACTIVE */
            for (size_t j = 0; j < p->n; j++)
                if (atomic_load(&p->srv[j]->agent_state) != LB_AGENT_ACTIVE &&
                    lb_server_active(p->srv[j]) > 0)
                    rt_close_server_conns(rt, p->srv[j]);
        if (before[0] && strcmp(before, memo->active) != 0 && rt->active_changed)
            rt->active_changed(rt->active_arg, p->cfg->name);
    }
}

static bool in_view(const struct lb_view *v, const struct lb_server *s)
{
    for (size_t i = 0; i < v->n_pools; i++)
        for (size_t j = 0; j < v->pools[i].n; j++)
            if (v->pools[i].srv[j] == s)
                return true;
    return false;
}

/* Servers of old that are not in new lose their connections now (instead of draining). */
static void close_removed(struct runtime *rt, const struct lb_view *old, const struct lb_view *new)
{
    for (size_t i = 0; i < old->n_pools; i++)
        for (size_t j = 0; j < old->pools[i].n; j++)
            if (!in_view(new, old->pools[i].srv[j]))
                rt_close_server_conns(rt, old->pools[i].srv[j]);
}

/* ---- join readiness ------------------------------------------------------------------------ */

/* "host:port" and "host:port" on one host (names compared as DNS compares them). */
static bool same_host(const char *a, const char *b)
{
    const char *ca = strrchr(a, ':'), *cb = strrchr(b, ':');
    return ca && cb && ca - a == cb - b && strncasecmp(a, b, (size_t)(ca - a)) == 0;
}

static const struct lb_pool *pool_named(const struct lb_view *v, const char *name)
{
    for (size_t i = 0; i < v->n_pools; i++)
        if (strcmp(v->pools[i].cfg->name, name) == 0)
            return &v->pools[i];
    return NULL;
}

/* A server of a backend with requires needs the servers on its host in each required backend
 * (the config's were checked at load; a list set at run time may lack one: then it never
 * takes traffic, and says why). Every server is linked again at each view, which also drops
 * what a reloaded config no longer requires. */
static void link_server(const struct lb_view *v, const struct lb_pool *p, struct lb_server *s)
{
    const struct config_backend *cb = p->cfg;
    struct health_target **needs = NULL;
    size_t n = 0;
    char missing[320] = "";
    for (size_t r = 0; r < cb->n_requires; r++) {
        const struct lb_pool *q = pool_named(v, cb->requires[r]);
        bool found = false;
        for (size_t j = 0; q && j < q->n; j++) {
            if (!q->srv[j]->health || !same_host(s->address, q->srv[j]->address))
                continue;
            needs = xreallocarray(needs, n + 1, sizeof(*needs));
            needs[n++] = q->srv[j]->health;
            found = true;
        }
        if (!found && !missing[0])
            snprintf(missing, sizeof(missing),
                     "it requires a server of backend '%s' on its host, and there is none",
                     cb->requires[r]);
    }
    health_target_require(s->health, needs, n, missing[0] ? missing : NULL);
    free(needs);
}

static void link_requires(const struct lb_view *v)
{
    for (size_t i = 0; i < v->n_pools; i++)
        for (size_t j = 0; j < v->pools[i].n; j++)
            if (v->pools[i].srv[j]->health)
                link_server(v, &v->pools[i], v->pools[i].srv[j]);
}

/* Builds a view for cfg and makes it current: the new registries replace the old ones, whose
 * leftovers live on only in older views (until their connections end, or at once when
 * close_gone). */
int rt_install(struct runtime *rt, struct config *cfg, bool close_gone, char *err, size_t errlen)
{
    struct lb_view *v = xcalloc(1, sizeof(*v));
    size_t n_servers = 0, n_fronts = 0, n_listens = 0;
    struct lb_server **servers = xreallocarray(NULL, count_servers(rt, cfg), sizeof(*servers));
    struct lb_front **fronts = xreallocarray(NULL, cfg->n_frontends, sizeof(*fronts));
    struct lb_listen **listens = xreallocarray(NULL, count_listens(cfg), sizeof(*listens));

    atomic_init(&v->refs, 1);
    v->cfg = config_ref(cfg);
    v->generation = ++rt->generation;
    if (build_fronts(rt, v, fronts, &n_fronts, listens, &n_listens, err, errlen) < 0) {
        for (size_t i = 0; i < n_fronts; i++)
            lb_front_unref(fronts[i]);
        for (size_t i = 0; i < n_listens; i++)
            lb_listen_unref(listens[i]);
        free(fronts);
        free(listens);
        free(servers);
        lb_view_free(v);
        return -1;
    }
    build_pools(rt, v, servers, &n_servers);
    runtime_listens_refuse_removed(rt->listens, rt->n_listens, listens, n_listens);
    release_registry(rt);
    rt->servers = servers;
    rt->n_servers = n_servers;
    rt->fronts = fronts;
    rt->n_fronts = n_fronts;
    rt->listens = listens;
    rt->n_listens = n_listens;
    for (unsigned i = 0; i < rt->n_workers; i++)
        lb_worker_post(rt->workers[i], LB_WORKER_VIEW, lb_view_ref(v));
    if (rt->view && close_gone)
        close_removed(rt, rt->view, v);
    if (rt->view && lb_view_unref(rt->view))
        lb_view_free(rt->view);
    rt->view = v;
    link_requires(v);
    sticky_update(rt, NULL);
    return 0;
}

/* ---- events from workers and health --------------------------------------------------------- */

static void on_report(void *arg, int type, void *ptr)
{
    (void)arg;
    if (type == LB_REPORT_VIEW_FREE)
        lb_view_free(ptr);
}

static void on_health_change(void *arg, struct health_target *t, enum health_event ev)
{
    struct runtime *rt = arg;
    struct lb_server *s = health_target_owner(t);
    if (ev != HEALTH_EVENT_PROBE) {
        runtime_quorum_guard(rt->view, s, ev == HEALTH_EVENT_UP);
        runtime_backend_guard(rt->view, s, ev == HEALTH_EVENT_UP);
    }
    if (ev == HEALTH_EVENT_DOWN && health_closes_on_down(t))
        rt_close_server_conns(rt, s);
    if (ev == HEALTH_EVENT_DOWN)
        lb_server_resolve_now(s); /* a host name may have moved */
    sticky_update(rt, s);
}

/* ---- life cycle ----------------------------------------------------------------------------- */

/* One resolver for the process: /etc/resolv.conf (and /etc/hosts), or the server named in the
 * config. */
static struct evdns_base *dns_new(struct event_base *base, const struct net_addr *resolver)
{
    struct evdns_base *dns;
    if (!resolver->port)
        return evdns_base_new(base,
                              EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns && evdns_base_nameserver_ip_add(dns, resolver->text) != 0)
        log_warn("resolver", "resolver %s is not usable", resolver->text);
    return dns;
}

static unsigned worker_count(const struct config *cfg)
{
    long cpus;
    if (cfg->workers)
        return cfg->workers;
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? (unsigned)cpus : 1;
}

struct runtime *runtime_new(struct event_base *base, struct config *cfg, char *err, size_t errlen)
{
    struct runtime *rt = xcalloc(1, sizeof(*rt));
    rt->base = base;
    rt->started = time(NULL);
    rt->n_workers = worker_count(cfg);
    rt->mbox_ready = mailbox_init(&rt->mbox, base, on_report, rt) == 0;
    rt->dns = dns_new(base, &cfg->resolver);
    if (!rt->mbox_ready || !(rt->health = health_new(base, on_health_change, rt))) {
        snprintf(err, errlen, "cannot set up the event loop: %s", strerror(errno));
        goto fail;
    }
    rt->workers = xreallocarray(NULL, rt->n_workers, sizeof(*rt->workers));
    for (unsigned i = 0; i < rt->n_workers; i++) {
        rt->workers[i] = lb_worker_new(i, &rt->total_conns, &rt->mbox);
        if (!rt->workers[i]) {
            snprintf(err, errlen, "cannot create worker %u", i);
            rt->n_workers = i;
            goto fail;
        }
    }
    if (rt_install(rt, cfg, false, err, errlen) < 0)
        goto fail;
    for (unsigned i = 0; i < rt->n_workers; i++)
        if (lb_worker_start(rt->workers[i]) != 0) {
            snprintf(err, errlen, "cannot start worker thread %u", i);
            goto fail;
        }
    log_info("started", "%u worker%s, %zu frontend%s, %zu backend%s", rt->n_workers,
             rt->n_workers == 1 ? "" : "s", cfg->n_frontends, cfg->n_frontends == 1 ? "" : "s",
             cfg->n_backends, cfg->n_backends == 1 ? "" : "s");
    return rt;
fail:
    runtime_free(rt);
    return NULL;
}

int runtime_apply(struct runtime *rt, struct config *cfg, char *err, size_t errlen)
{
    char why[128];
    if (config_needs_restart(rt->view->cfg, cfg, why, sizeof(why))) {
        snprintf(err, errlen, "%s changed: only a restart can apply it", why);
        return -1;
    }
    return rt_install(rt, cfg, false, err, errlen);
}

void runtime_stop_accepting(struct runtime *rt, bool handed_over)
{
    for (unsigned i = 0; i < rt->n_workers; i++)
        lb_worker_post(rt->workers[i], LB_WORKER_STOP_ACCEPT, NULL);
    if (handed_over)
        return; /* the successor accepts on the same sockets now */
    /* Take the sockets out of LISTEN at once so that new clients are refused instead of
     * waiting in the backlog; the fds stay valid for the workers until the views go. */
    for (size_t i = 0; i < rt->n_listens; i++)
        runtime_listen_shut(rt->listens[i]);
}

uint64_t runtime_active(const struct runtime *rt)
{
    uint64_t n = 0;
    for (size_t i = 0; i < rt->n_fronts; i++)
        n += atomic_load(&rt->fronts[i]->active);
    return n;
}

void runtime_free(struct runtime *rt)
{
    for (unsigned i = 0; i < rt->n_workers; i++)
        lb_worker_post(rt->workers[i], LB_WORKER_EXIT, NULL);
    for (unsigned i = 0; i < rt->n_workers; i++)
        lb_worker_join_free(rt->workers[i]);
    free(rt->workers);
    if (rt->mbox_ready)
        mailbox_close(&rt->mbox); /* frees the views the workers gave back */
    if (rt->view && lb_view_unref(rt->view))
        lb_view_free(rt->view);
    release_registry(rt);
    runtime_lists_free(&rt->lists);
    if (rt->drain_timer)
        event_free(rt->drain_timer);
    health_free(rt->health);
    if (rt->dns)
        evdns_base_free(rt->dns, 1); /* after the servers: their lookups are cancelled */
    free(rt);
}

const struct lb_view *runtime_view(const struct runtime *rt)
{
    return rt->view;
}
unsigned runtime_workers(const struct runtime *rt)
{
    return rt->n_workers;
}

const char *runtime_sticky_active(struct runtime *rt, const char *backend)
{
    struct runtime_list *l = runtime_lists_find(&rt->lists, backend);
    return l && l->memo.active[0] ? l->memo.active : NULL;
}

void runtime_note_reload(struct runtime *rt, bool ok)
{
    if (ok)
        rt->reloads.ok++;
    else
        rt->reloads.failed++;
    rt->reloads.last = time(NULL);
    rt->reloads.last_ok = ok;
}

const struct runtime_reloads *runtime_reloads(const struct runtime *rt)
{
    return &rt->reloads;
}
time_t runtime_started(const struct runtime *rt)
{
    return rt->started;
}

void runtime_watch_active(struct runtime *rt, void (*cb)(void *arg, const char *backend), void *arg)
{
    rt->active_changed = cb;
    rt->active_arg = arg;
}

struct evdns_base *runtime_dns(struct runtime *rt)
{
    return rt->dns;
}

struct upgrade_socket *runtime_listen_sockets(const struct runtime *rt, size_t *n)
{
    return runtime_view_sockets(rt->view, n);
}
