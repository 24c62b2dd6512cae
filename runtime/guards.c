/* What the main thread says when a server's state changes a backend's: an etcd backend that
 * loses (or regains) its quorum, any backend that loses its last usable server (or has one
 * again). Log lines only; the data path needs nothing from here. */
#include "runtime/guards.h"

#include "lb/balance.h"
#include "lb/server.h"
#include "common/log.h"

static bool pool_has(const struct lb_pool *p, const struct lb_server *s)
{
    for (size_t j = 0; j < p->n; j++)
        if (p->srv[j] == s)
            return true;
    return false;
}

/* A backend that loses its last usable server says so, and again when it has one: without a
 * line the refused clients would show only in a counter (HAProxy logs "no server available"). */
void runtime_backend_guard(const struct lb_view *v, const struct lb_server *changed, bool up)
{
    for (size_t i = 0; v && i < v->n_pools; i++) {
        const struct lb_pool *p = &v->pools[i];
        size_t usable;
        if (p->balance == CONFIG_BALANCE_STICKY || !pool_has(p, changed))
            continue;
        usable = lb_pool_usable(p);
        if (!up && usable == 0)
            log_warn("backend_down", "backend '%s' has no usable server: new clients are %s",
                     p->cfg->name,
                     p->cfg->when_all_down == CONFIG_ALL_DOWN_REFUSE
                         ? "refused"
                         : "tried on servers that are down, as a last resort");
        else if (up && usable == 1)
            log_info("backend_up", "backend '%s' has a usable server again", p->cfg->name);
    }
}

/* Quorum guard: an etcd backend with fewer than a majority of healthy members cannot write. */
void runtime_quorum_guard(const struct lb_view *v, const struct lb_server *changed, bool up)
{
    for (size_t i = 0; v && i < v->n_pools; i++) {
        const struct lb_pool *p = &v->pools[i];
        if (p->cfg->role != CONFIG_ROLE_ETCD || !pool_has(p, changed))
            continue;
        struct lb_quorum q = lb_pool_quorum(p);
        if (q.healthy < q.majority)
            log_warn("quorum_lost",
                     "%zu of %zu etcd members of backend '%s' healthy: writes "
                     "will fail",
                     q.healthy, q.members, p->cfg->name);
        else if (up && q.healthy == q.majority)
            log_info("quorum_restored", "%zu of %zu etcd members of backend '%s' healthy",
                     q.healthy, q.members, p->cfg->name);
    }
}
