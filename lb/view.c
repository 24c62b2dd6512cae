/* View references and teardown. */
#include "lb/view.h"

#include "lb/balance.h"
#include "lb/queue.h"
#include "lb/source.h"
#include "lb/server.h"

#include "config/config.h"
#include "config/value.h"

#include <stdlib.h>
#include <unistd.h>

struct lb_view *lb_view_ref(struct lb_view *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

bool lb_view_unref(struct lb_view *v)
{
    return atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1;
}

void lb_listen_unref(struct lb_listen *l)
{
    if (--l->refs > 0)
        return;
    for (size_t i = 0; i < l->n_fds; i++)
        if (l->fds[i] >= 0)
            close(l->fds[i]);
    config_addr_free(&l->addr);
    free(l->fds);
    free(l);
}

void lb_front_unref(struct lb_front *f)
{
    if (--f->refs > 0)
        return;
    lb_source_free(atomic_load(&f->src));
    free(f->name);
    free(f);
}

void lb_view_free(struct lb_view *v)
{
    for (size_t i = 0; i < v->n_fronts; i++) {
        for (size_t j = 0; j < v->fronts[i].n_listen; j++)
            lb_listen_unref(v->fronts[i].listen[j]);
        free(v->fronts[i].listen);
        lb_front_unref(v->fronts[i].front);
    }
    for (size_t i = 0; i < v->n_pools; i++) {
        for (size_t j = 0; j < v->pools[i].n; j++)
            lb_server_unref(v->pools[i].srv[j]);
        free(v->pools[i].srv);
        lb_queue_free(v->pools[i].queue);
    }
    free(v->fronts);
    free(v->pools);
    config_unref(v->cfg);
    free(v);
}
