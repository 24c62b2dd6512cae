/* Prometheus rendering. Each family is written once with HELP and TYPE, then one sample per
 * frontend or server, so the output always passes `promtool check metrics`. */
#include "admin/metrics.h"

#include "health/health.h"
#include "common/net.h"
#include "lb/balance.h"
#include "lb/server.h"
#include "lb/view.h"

#include <event2/buffer.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* A label value with \, " and newline escaped. */
static const char *esc(const char *in, char *buf, size_t len)
{
    size_t n = 0;
    for (; *in && n + 3 < len; in++) {
        if (*in == '\\' || *in == '"') {
            buf[n++] = '\\';
            buf[n++] = *in;
        } else if (*in == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *in;
        }
    }
    buf[n] = '\0';
    return buf;
}

static void family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

typedef double (*server_value)(const struct lb_server *s);

/* The frontend counters, each a field of struct lb_front. */
static const struct {
    const char *name, *type, *help;
    size_t off;
} front_counters[] = {
    {"k3lb_frontend_connections_total", "counter", "Client connections accepted",
     offsetof(struct lb_front, total)},
    {"k3lb_frontend_connections_active", "gauge", "Client connections open now",
     offsetof(struct lb_front, active)},
    {"k3lb_frontend_no_server_total", "counter",
     "Client connections closed because no server accepted", offsetof(struct lb_front, no_server)},
    {"k3lb_frontend_denied_total", "counter",
     "Clients refused by the frontend's allow and deny lists", offsetof(struct lb_front, denied)},
    {"k3lb_frontend_bad_proxy_header_total", "counter",
     "Clients closed for a bad, missing or late PROXY protocol header",
     offsetof(struct lb_front, bad_header)},
    {"k3lb_frontend_unrouted_total", "counter",
     "Clients no SNI route took, sent to the frontend's default backend",
     offsetof(struct lb_front, unrouted)},
    {"k3lb_frontend_no_route_total", "counter",
     "Clients no SNI route took, closed for want of a default backend",
     offsetof(struct lb_front, no_route)},
    {"k3lb_frontend_source_limited_conns_total", "counter",
     "Clients reset: their address had source_max_conns open",
     offsetof(struct lb_front, limited_conns)},
    {"k3lb_frontend_source_limited_rate_total", "counter",
     "Clients reset: their address was over source_max_rate",
     offsetof(struct lb_front, limited_rate)},
};

/* A counter of struct lb_front, lb_queue or lb_server_counters: the atomic_uint_fast64_t at
 * off in obj. */
static uint64_t field(const void *obj, size_t off)
{
    return atomic_load((const atomic_uint_fast64_t *)(const void *)((const char *)obj + off));
}

static void front_families(struct evbuffer *out, const struct lb_view *v)
{
    char b[256];
    for (size_t f = 0; f < sizeof(front_counters) / sizeof(front_counters[0]); f++) {
        family(out, front_counters[f].name, front_counters[f].type, front_counters[f].help);
        for (size_t i = 0; i < v->n_fronts; i++)
            evbuffer_add_printf(
                out, "%s{frontend=\"%s\"} %llu\n", front_counters[f].name,
                esc(v->fronts[i].cfg->name, b, sizeof(b)),
                (unsigned long long)field(v->fronts[i].front, front_counters[f].off));
    }
}

static double srv_up(const struct lb_server *s)
{
    return lb_server_up(s);
}
static double srv_weight(const struct lb_server *s)
{
    return atomic_load(&s->weight);
}
static double srv_transitions(const struct lb_server *s)
{
    struct health_status st;
    if (!s->health)
        return 0;
    health_target_status(s->health, &st);
    return (double)st.transitions;
}

/* The server counters, each a field of struct lb_server_counters. */
static const struct {
    const char *name, *type, *help;
    size_t off;
} counters[] = {
    {"k3lb_server_connections_active", "gauge", "Connections assigned to the server now",
     offsetof(struct lb_server_counters, active)},
    {"k3lb_server_connections_total", "counter", "Connections established to the server",
     offsetof(struct lb_server_counters, total)},
    {"k3lb_server_connect_failures_total", "counter", "Connects refused or timed out",
     offsetof(struct lb_server_counters, connect_failures)},
    {"k3lb_server_retries_total", "counter",
     "Connections that reached the server after another one failed",
     offsetof(struct lb_server_counters, retries)},
    {"k3lb_server_received_bytes_total", "counter", "Bytes from clients forwarded to the server",
     offsetof(struct lb_server_counters, bytes_in)},
    {"k3lb_server_sent_bytes_total", "counter", "Bytes from the server forwarded to clients",
     offsetof(struct lb_server_counters, bytes_out)},
};

static double counter(const struct lb_server *s, size_t off)
{
    return (double)field(&s->c, off);
}

static void labels(const struct lb_pool *p, const struct lb_server *s, char *buf, size_t len)
{
    char b1[256], b2[256];
    snprintf(buf, len, "backend=\"%s\",server=\"%s\"", esc(p->cfg->name, b1, sizeof(b1)),
             esc(s->address, b2, sizeof(b2)));
}

/* One family over every server: the value from get, or else the counter at off. */
static void server_family(struct evbuffer *out, const struct lb_view *v, const char *name,
                          const char *type, const char *help, server_value get, size_t off)
{
    char l[600];
    family(out, name, type, help);
    for (size_t i = 0; i < v->n_pools; i++)
        for (size_t j = 0; j < v->pools[i].n; j++) {
            const struct lb_server *s = v->pools[i].srv[j];
            labels(&v->pools[i], s, l, sizeof(l));
            evbuffer_add_printf(out, "%s{%s} %.0f\n", name, l, get ? get(s) : counter(s, off));
        }
}

/* One family with a value per backend. */
static void backend_family(struct evbuffer *out, const struct lb_view *v, const char *name,
                           const char *type, const char *help,
                           uint64_t (*get)(const struct lb_pool *p, size_t off), size_t off)
{
    char b[256];
    family(out, name, type, help);
    for (size_t i = 0; i < v->n_pools; i++)
        evbuffer_add_printf(out, "%s{backend=\"%s\"} %llu\n", name,
                            esc(v->pools[i].cfg->name, b, sizeof(b)),
                            (unsigned long long)get(&v->pools[i], off));
}

static uint64_t pool_up(const struct lb_pool *p, size_t off)
{
    (void)off;
    return lb_pool_usable(p) > 0;
}

static uint64_t pool_usable(const struct lb_pool *p, size_t off)
{
    (void)off;
    return lb_pool_usable(p);
}

static uint64_t pool_queue(const struct lb_pool *p, size_t off)
{
    return field(p->queue, off);
}

/* Each backend as a whole (the alert a backend without a server deserves needs no join over
 * servers), and its queue (maxconn), one family per field of struct lb_queue. */
static void backend_families(struct evbuffer *out, const struct lb_view *v)
{
    backend_family(out, v, "k3lb_backend_up", "gauge",
                   "1 when at least one server of the backend is usable", pool_up, 0);
    backend_family(out, v, "k3lb_backend_servers_usable", "gauge",
                   "Servers of the backend that take new connections (up, ready, weighted)",
                   pool_usable, 0);
    backend_family(out, v, "k3lb_backend_queue_waiting", "gauge",
                   "Clients waiting for a server slot (maxconn)", pool_queue,
                   offsetof(struct lb_queue, n));
    backend_family(out, v, "k3lb_backend_queued_total", "counter",
                   "Clients that waited for a server slot", pool_queue,
                   offsetof(struct lb_queue, total));
    backend_family(out, v, "k3lb_backend_queue_timeouts_total", "counter",
                   "Waiting clients closed after queue_timeout", pool_queue,
                   offsetof(struct lb_queue, timeouts));
    backend_family(out, v, "k3lb_backend_queue_full_total", "counter",
                   "Clients closed at once because max_queue were waiting", pool_queue,
                   offsetof(struct lb_queue, full));
}

static void server_states(struct evbuffer *out, const struct lb_view *v)
{
    static const char *const states[] = {"up", "down", "drain", "maint"};
    char l[600];
    family(out, "k3lb_server_state", "gauge",
           "1 for the state the server is in (up, down, drain, "
           "maint)");
    for (size_t i = 0; i < v->n_pools; i++)
        for (size_t j = 0; j < v->pools[i].n; j++) {
            const char *now = lb_server_state_name(v->pools[i].srv[j]);
            labels(&v->pools[i], v->pools[i].srv[j], l, sizeof(l));
            for (size_t k = 0; k < 4; k++)
                evbuffer_add_printf(out, "k3lb_server_state{%s,state=\"%s\"} %d\n", l, states[k],
                                    strcmp(now, states[k]) == 0);
        }
}

static void check_durations(struct evbuffer *out, const struct lb_view *v)
{
    char l[600];
    family(out, "k3lb_server_check_duration_seconds", "histogram",
           "Duration of health check probes");
    for (size_t i = 0; i < v->n_pools; i++)
        for (size_t j = 0; j < v->pools[i].n; j++) {
            const struct lb_server *s = v->pools[i].srv[j];
            struct health_status st;
            uint64_t cum = 0;
            if (!s->health)
                continue;
            health_target_status(s->health, &st);
            labels(&v->pools[i], s, l, sizeof(l));
            for (size_t k = 0; k < HEALTH_BUCKETS; k++) {
                cum += st.durations->buckets[k];
                if (k < HEALTH_BUCKETS - 1)
                    evbuffer_add_printf(out,
                                        "k3lb_server_check_duration_seconds_bucket{%s,le=\"%g\"} "
                                        "%llu\n",
                                        l, health_bucket_ms[k] / 1000.0, (unsigned long long)cum);
                else
                    evbuffer_add_printf(out,
                                        "k3lb_server_check_duration_seconds_bucket{%s,le=\"+Inf\"} "
                                        "%llu\n",
                                        l, (unsigned long long)cum);
            }
            evbuffer_add_printf(out, "k3lb_server_check_duration_seconds_sum{%s} %g\n", l,
                                (double)st.durations->sum_ms / 1000.0);
            evbuffer_add_printf(out, "k3lb_server_check_duration_seconds_count{%s} %llu\n", l,
                                (unsigned long long)st.durations->count);
        }
}

static void process(struct evbuffer *out, const struct runtime *rt)
{
    const struct runtime_reloads *r = runtime_reloads(rt);
    family(out, "k3lb_build_info", "gauge", "Version of k3lb; always 1");
    evbuffer_add_printf(out, "k3lb_build_info{version=\"%s\"} 1\n", K3LB_VERSION);
    family(out, "k3lb_process_start_time_seconds", "gauge", "Start time, seconds since the epoch");
    evbuffer_add_printf(out, "k3lb_process_start_time_seconds %lld\n",
                        (long long)runtime_started(rt));
    family(out, "k3lb_config_reloads_total", "counter", "Config reloads by outcome");
    evbuffer_add_printf(out, "k3lb_config_reloads_total{result=\"success\"} %llu\n",
                        (unsigned long long)r->ok);
    evbuffer_add_printf(out, "k3lb_config_reloads_total{result=\"failure\"} %llu\n",
                        (unsigned long long)r->failed);
    family(out, "k3lb_config_last_reload_successful", "gauge",
           "1 when the last reload was applied (or there was none)");
    evbuffer_add_printf(out, "k3lb_config_last_reload_successful %d\n", r->last == 0 || r->last_ok);
    family(out, "k3lb_config_last_reload_timestamp_seconds", "gauge",
           "Time of the last reload attempt, seconds since the epoch (0: none)");
    evbuffer_add_printf(out, "k3lb_config_last_reload_timestamp_seconds %lld\n",
                        (long long)r->last);
}

/* ---- K3s's own names, for the agent's sticky backends: dashboards built for K3s's agent
 * balancer (pkg/agent/loadbalancer/metrics.go) work unchanged ---------------------------------- */

/* K3s's balancer names: the supervisor's, the API servers' and the etcd one's. */
static const char *k3s_name(const struct lb_pool *p)
{
    if (strcmp(p->cfg->name, "servers") == 0)
        return "k3s-agent-load-balancer";
    if (strcmp(p->cfg->name, "apiservers") == 0)
        return "k3s-api-server-agent-load-balancer";
    if (strcmp(p->cfg->name, "etcd") == 0)
        return "k3s-etcd-server-load-balancer";
    return p->cfg->name;
}

/* K3s's numbers for the states: 1 failed .. 7 active (0 is its "invalid"). */
static int k3s_state(const struct lb_server *s)
{
    static const int num[LB_AGENT_COUNT] = {
        [LB_AGENT_ACTIVE] = 7,     [LB_AGENT_PREFERRED] = 6, [LB_AGENT_HEALTHY] = 5,
        [LB_AGENT_RECOVERING] = 4, [LB_AGENT_UNCHECKED] = 3, [LB_AGENT_STANDBY] = 2,
        [LB_AGENT_FAILED] = 1,
    };
    int st = atomic_load(&s->agent_state);
    return st >= 0 && st < LB_AGENT_COUNT ? num[st] : 0;
}

static void k3s_dials(struct evbuffer *out, const struct lb_pool *p, const char *status, bool ok)
{
    uint64_t cum = 0, count = 0, sum_us = 0, buckets[LB_DIAL_BUCKETS] = {0};
    char b[256];
    for (size_t j = 0; j < p->n; j++) {
        const struct lb_dial_hist *h = ok ? &p->srv[j]->c.dial_ok : &p->srv[j]->c.dial_err;
        for (unsigned k = 0; k < LB_DIAL_BUCKETS; k++)
            buckets[k] += atomic_load(&h->bucket[k]);
        count += atomic_load(&h->count);
        sum_us += atomic_load(&h->sum_us);
    }
    esc(k3s_name(p), b, sizeof(b));
    for (unsigned k = 0; k < LB_DIAL_BUCKETS; k++) {
        cum += buckets[k];
        evbuffer_add_printf(out,
                            "k3s_loadbalancer_dial_duration_seconds_bucket{name=\"%s\",status="
                            "\"%s\",le=\"%g\"} %llu\n",
                            b, status, (double)(1u << k) / 1000.0, (unsigned long long)cum);
    }
    evbuffer_add_printf(out,
                        "k3s_loadbalancer_dial_duration_seconds_bucket{name=\"%s\",status=\"%s\","
                        "le=\"+Inf\"} %llu\n"
                        "k3s_loadbalancer_dial_duration_seconds_sum{name=\"%s\",status=\"%s\"} %g\n"
                        "k3s_loadbalancer_dial_duration_seconds_count{name=\"%s\",status=\"%s\"} "
                        "%llu\n",
                        b, status, (unsigned long long)count, b, status, (double)sum_us / 1e6, b,
                        status, (unsigned long long)count);
}

static void k3s_families(struct evbuffer *out, const struct lb_view *v)
{
    static const char *const names[] = {"k3s_loadbalancer_server_connections",
                                        "k3s_loadbalancer_server_health"};
    static const char *const helps[] = {
        "Current connections to the load balancer's server",
        "Current state of the load balancer's server: 0=INVALID, 1=FAILED, 2=STANDBY, "
        "3=UNCHECKED, 4=RECOVERING, 5=HEALTHY, 6=PREFERRED, 7=ACTIVE"};
    bool any = false;
    char b1[256], b2[256];
    for (size_t i = 0; i < v->n_pools; i++)
        any = any || v->pools[i].balance == CONFIG_BALANCE_STICKY;
    if (!any)
        return;
    for (int f = 0; f < 2; f++) {
        family(out, names[f], "gauge", helps[f]);
        for (size_t i = 0; i < v->n_pools; i++)
            for (size_t j = 0; v->pools[i].balance == CONFIG_BALANCE_STICKY && j < v->pools[i].n;
                 j++) {
                const struct lb_server *s = v->pools[i].srv[j];
                evbuffer_add_printf(
                    out, "%s{name=\"%s\",server=\"%s\"} %llu\n", names[f],
                    esc(k3s_name(&v->pools[i]), b1, sizeof(b1)), esc(s->address, b2, sizeof(b2)),
                    f ? (unsigned long long)k3s_state(s) : (unsigned long long)lb_server_active(s));
            }
    }
    family(out, "k3s_loadbalancer_dial_duration_seconds", "histogram",
           "Time taken to dial a connection to a backend server, by success or error");
    for (size_t i = 0; i < v->n_pools; i++)
        if (v->pools[i].balance == CONFIG_BALANCE_STICKY) {
            k3s_dials(out, &v->pools[i], "success", true);
            k3s_dials(out, &v->pools[i], "error", false);
        }
}

void admin_metrics_render(const struct runtime *rt, struct evbuffer *out)
{
    const struct lb_view *v = runtime_view(rt);
    process(out, rt);
    front_families(out, v);
    server_family(out, v, "k3lb_server_up", "gauge", "1 when the server is up (health)", srv_up, 0);
    server_states(out, v);
    server_family(out, v, "k3lb_server_weight", "gauge", "Current weight", srv_weight, 0);
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        server_family(out, v, counters[i].name, counters[i].type, counters[i].help, NULL,
                      counters[i].off);
    backend_families(out, v);
    server_family(out, v, "k3lb_server_transitions_total", "counter",
                  "Up/down state changes of the server", srv_transitions, 0);
    check_durations(out, v);
    k3s_families(out, v);
}

void admin_announce_metrics(struct evbuffer *out, const struct admin_announce *an)
{
    char b[256];
    if (!an->configured)
        return;
    family(out, "k3lb_announce_announced", "gauge",
           "1 while this node announces the anycast address (its frontends have usable "
           "servers and k3lb is not stopping)");
    for (size_t i = 0; i < an->n_addresses; i++)
        evbuffer_add_printf(out, "k3lb_announce_announced{address=\"%s\"} %d\n",
                            esc(an->addresses[i], b, sizeof(b)), an->announced ? 1 : 0);
    family(out, "k3lb_announce_changes_total", "counter",
           "Announcements and withdrawals since start");
    evbuffer_add_printf(out, "k3lb_announce_changes_total %lu\n", an->changes);
}
