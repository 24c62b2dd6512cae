/* GET /status rendering. Numbers are read from atomics without a lock: each value is exact,
 * the set is a moment's picture, which is what a status page needs. */
#include "admin/status.h"

#include "config/config.h"
#include "health/health.h"
#include "common/net.h"
#include "lb/balance.h"
#include "lb/server.h"
#include "health/agent.h"
#include "lb/source-t.h"
#include "lb/view.h"

#include <unistd.h>

static cJSON *front_json(const struct lb_view_front *vf)
{
    cJSON *o = cJSON_CreateObject(), *listen = cJSON_AddArrayToObject(o, "listen");
    cJSON_AddStringToObject(o, "name", vf->cfg->name);
    for (size_t i = 0; i < vf->cfg->n_listen; i++)
        cJSON_AddItemToArray(listen, cJSON_CreateString(vf->cfg->listen[i].text));
    if (vf->cfg->backend)
        cJSON_AddStringToObject(o, "backend", vf->cfg->backend);
    else
        cJSON_AddNullToObject(o, "backend");
    if (vf->cfg->n_routes) {
        cJSON *routes = cJSON_AddArrayToObject(o, "routes");
        for (size_t i = 0; i < vf->cfg->n_routes; i++) {
            const struct config_route *r = &vf->cfg->routes[i];
            cJSON *ro = cJSON_CreateObject(), *sni = cJSON_AddArrayToObject(ro, "sni");
            for (size_t j = 0; j < r->n_sni; j++)
                cJSON_AddItemToArray(sni, cJSON_CreateString(r->sni[j]));
            cJSON_AddStringToObject(ro, "backend", r->backend);
            cJSON_AddItemToArray(routes, ro);
        }
        cJSON_AddNumberToObject(o, "unrouted", (double)atomic_load(&vf->front->unrouted));
        cJSON_AddNumberToObject(o, "no_route", (double)atomic_load(&vf->front->no_route));
    }
    cJSON_AddNumberToObject(o, "connections_active", (double)atomic_load(&vf->front->active));
    cJSON_AddNumberToObject(o, "connections_total", (double)atomic_load(&vf->front->total));
    cJSON_AddNumberToObject(o, "no_server", (double)atomic_load(&vf->front->no_server));
    cJSON_AddNumberToObject(o, "denied", (double)atomic_load(&vf->front->denied));
    if (vf->cfg->source_max_conns || vf->cfg->source_max_rate) {
        cJSON *lo = cJSON_AddObjectToObject(o, "source_limits");
        struct lb_srctab *t = atomic_load(&vf->front->src);
        cJSON_AddNumberToObject(lo, "max_conns", vf->cfg->source_max_conns);
        cJSON_AddNumberToObject(lo, "max_rate", vf->cfg->source_max_rate);
        cJSON_AddNumberToObject(lo, "ipv6_prefix", vf->cfg->source_ipv6_prefix);
        cJSON_AddNumberToObject(lo, "limited_conns",
                                (double)atomic_load(&vf->front->limited_conns));
        cJSON_AddNumberToObject(lo, "limited_rate", (double)atomic_load(&vf->front->limited_rate));
        cJSON_AddNumberToObject(lo, "untracked", t ? (double)atomic_load(&t->untracked) : 0);
    }
    cJSON_AddBoolToObject(o, "accept_proxy", vf->cfg->accept_proxy);
    cJSON_AddNumberToObject(o, "bad_proxy_header", (double)atomic_load(&vf->front->bad_header));
    return o;
}

static cJSON *check_json(const struct health_target *t)
{
    struct health_status st;
    cJSON *o = cJSON_CreateObject();
    health_target_status(t, &st);
    cJSON_AddStringToObject(o, "kind", st.kind);
    cJSON_AddStringToObject(o, "result", health_result_names[st.result]);
    cJSON_AddStringToObject(o, "detail", st.detail);
    cJSON_AddNumberToObject(o, "latency_ms", st.latency_ms);
    cJSON_AddNumberToObject(o, "since", (double)st.since_ms / 1000.0);
    cJSON_AddNumberToObject(o, "checks", (double)st.checks);
    cJSON_AddNumberToObject(o, "transitions", (double)st.transitions);
    if (st.san_warning)
        cJSON_AddStringToObject(o, "san_warning", st.san_warning);
    if (st.waiting)
        cJSON_AddStringToObject(o, "waiting_for", st.waiting);
    return o;
}

static cJSON *server_json(struct lb_server *s, bool sticky)
{
    cJSON *o = cJSON_CreateObject();
    char resolved[NET_ADDRSTRLEN];
    struct net_sockaddr sa;
    cJSON_AddStringToObject(o, "address", s->address);
    if (lb_server_resolved(s)) {
        lb_server_addr(s, &sa);
        net_format(&sa.u.sa, sa.len, resolved, sizeof(resolved));
        cJSON_AddStringToObject(o, "resolved", resolved);
    } else {
        cJSON_AddNullToObject(o, "resolved");
    }
    if (sticky) {
        int st = atomic_load(&s->agent_state);
        if (st < LB_AGENT_RECOVERING && !lb_server_up(s))
            st = LB_AGENT_FAILED; /* a worker saw it fail; the manager is about to agree */
        cJSON_AddStringToObject(o, "state", lb_agent_state_names[st]);
        cJSON_AddBoolToObject(o, "default", s->is_default);
    } else {
        cJSON_AddStringToObject(o, "state", lb_server_state_name(s));
    }
    cJSON_AddNumberToObject(o, "weight", atomic_load(&s->weight));
    cJSON_AddBoolToObject(o, "backup", atomic_load(&s->backup));
    if (s->health && health_agent_detail(s->health)) {
        cJSON *ag = cJSON_AddObjectToObject(o, "agent");
        int pct = health_agent_weight(s->health), adm = health_agent_admin(s->health);
        cJSON_AddStringToObject(ag, "detail", health_agent_detail(s->health));
        if (pct >= 0)
            cJSON_AddNumberToObject(ag, "weight_percent", pct);
        cJSON_AddStringToObject(ag, "admin",
                                adm == HEALTH_AGENT_MAINT   ? "maint"
                                : adm == HEALTH_AGENT_DRAIN ? "drain"
                                                            : "ready");
        cJSON_AddBoolToObject(ag, "down", s->health->agent_down);
        if (health_agent_maxconn(s->health))
            cJSON_AddNumberToObject(ag, "maxconn", health_agent_maxconn(s->health));
    }
    cJSON_AddNumberToObject(o, "effective_weight", (double)lb_server_eweight(s) / LB_WEIGHT_SCALE);
    cJSON_AddNumberToObject(o, "maxconn", lb_server_maxconn(s));
    cJSON_AddNumberToObject(o, "connections_active", (double)atomic_load(&s->c.active));
    cJSON_AddNumberToObject(o, "connections_total", (double)atomic_load(&s->c.total));
    cJSON_AddNumberToObject(o, "connect_failures", (double)atomic_load(&s->c.connect_failures));
    cJSON_AddNumberToObject(o, "retries", (double)atomic_load(&s->c.retries));
    cJSON_AddNumberToObject(o, "bytes_in", (double)atomic_load(&s->c.bytes_in));
    cJSON_AddNumberToObject(o, "bytes_out", (double)atomic_load(&s->c.bytes_out));
    if (s->health)
        cJSON_AddItemToObject(o, "check", check_json(s->health));
    return o;
}

static cJSON *pool_json(const struct lb_pool *p)
{
    cJSON *o = cJSON_CreateObject(), *servers;
    cJSON_AddStringToObject(o, "name", p->cfg->name);
    cJSON_AddStringToObject(o, "role", config_role_names[p->cfg->role]);
    cJSON_AddStringToObject(o, "balance", config_balance_names[p->balance]);
    if (p->cfg->n_requires) {
        cJSON *req = cJSON_AddArrayToObject(o, "requires");
        for (size_t i = 0; i < p->cfg->n_requires; i++)
            cJSON_AddItemToArray(req, cJSON_CreateString(p->cfg->requires[i]));
    }
    cJSON_AddNumberToObject(o, "servers_usable", (double)lb_pool_usable(p));
    servers = cJSON_AddArrayToObject(o, "servers");
    for (size_t i = 0; i < p->n; i++)
        cJSON_AddItemToArray(servers, server_json(p->srv[i], p->balance == CONFIG_BALANCE_STICKY));
    if (p->cfg->maxconn || p->queue->total) {
        cJSON *qo = cJSON_AddObjectToObject(o, "queue");
        cJSON_AddNumberToObject(qo, "waiting", (double)atomic_load(&p->queue->n));
        cJSON_AddNumberToObject(qo, "max", p->cfg->max_queue);
        cJSON_AddNumberToObject(qo, "timeout", (double)p->cfg->queue_timeout_ms / 1000.0);
        cJSON_AddNumberToObject(qo, "total", (double)atomic_load(&p->queue->total));
        cJSON_AddNumberToObject(qo, "timeouts", (double)atomic_load(&p->queue->timeouts));
        cJSON_AddNumberToObject(qo, "full", (double)atomic_load(&p->queue->full));
    }
    if (p->cfg->role == CONFIG_ROLE_ETCD) {
        struct lb_quorum q = lb_pool_quorum(p);
        cJSON *qo = cJSON_AddObjectToObject(o, "quorum");
        cJSON_AddNumberToObject(qo, "members", (double)q.members);
        cJSON_AddNumberToObject(qo, "healthy", (double)q.healthy);
        cJSON_AddNumberToObject(qo, "majority", (double)q.majority);
        cJSON_AddBoolToObject(qo, "ok", q.healthy >= q.majority);
    }
    return o;
}

cJSON *admin_status_json(const struct runtime *rt)
{
    const struct lb_view *v = runtime_view(rt);
    cJSON *root = cJSON_CreateObject(), *fronts, *backs;
    cJSON_AddStringToObject(root, "version", K3LB_VERSION);
    cJSON_AddNumberToObject(root, "pid", (double)getpid());
    cJSON_AddStringToObject(root, "config", v->cfg->source);
    cJSON_AddNumberToObject(root, "workers", runtime_workers(rt));
    fronts = cJSON_AddArrayToObject(root, "frontends");
    for (size_t i = 0; i < v->n_fronts; i++)
        cJSON_AddItemToArray(fronts, front_json(&v->fronts[i]));
    backs = cJSON_AddArrayToObject(root, "backends");
    for (size_t i = 0; i < v->n_pools; i++)
        cJSON_AddItemToArray(backs, pool_json(&v->pools[i]));
    return root;
}

void admin_announce_json(cJSON *root, const struct admin_announce *an)
{
    cJSON *o, *list;
    if (!an->configured)
        return;
    o = cJSON_AddObjectToObject(root, "announce");
    cJSON_AddBoolToObject(o, "announced", an->announced);
    cJSON_AddStringToObject(o, "reason", an->reason);
    cJSON_AddStringToObject(o, "interface", an->interface);
    list = cJSON_AddArrayToObject(o, "addresses");
    for (size_t i = 0; i < an->n_addresses; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(an->addresses[i]));
    cJSON_AddNumberToObject(o, "since", an->since);
    cJSON_AddNumberToObject(o, "changes", (double)an->changes);
}
