/* Live server objects. Created and freed on the main thread; workers only touch atomics. */
#include "server.h"

#include "config/config-t.h"
#include "lb/log.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const lb_admin_state_names[] = {"ready", "drain", "maint", NULL};
const char *const lb_agent_state_names[] = {"active",    "preferred", "healthy", "recovering",
                                            "unchecked", "standby",   "failed",  NULL};

static atomic_uint next_id;

static struct health_endpoint endpoint_of(const struct lb_server *s,
                                          const struct lb_server_ctx *ctx,
                                          const struct config_server *cfg)
{
    return (struct health_endpoint){&s->sa,      cfg->address.host,   ctx->sans,
                                    ctx->n_sans, ctx->sticky ? 1 : 0, ctx->added};
}

struct lb_server *lb_server_new(const struct lb_server_ctx *ctx, const struct config_server *cfg,
                                struct health *engine)
{
    struct lb_server *s = calloc(1, sizeof(*s));
    const char *backend = ctx->backend;
    char label[512];
    int rc;

    if (!s)
        abort();
    atomic_init(&s->refs, 1);
    atomic_init(&s->agent_state, LB_AGENT_UNCHECKED);
    s->backend = strdup(backend);
    s->address = strdup(cfg->address.text);
    if (!s->backend || !s->address)
        abort();
    s->id = atomic_fetch_add(&next_id, 1);
    s->key_hash = lb_hash(s->address, strlen(s->address), 0x6b336c62);
    rc = lb_net_resolve(&cfg->address, &s->sa);
    if (rc != 0) {
        s->sa.len = 0;
        log_warn("server_unresolved", "%s/%s: cannot resolve: %s; kept out of rotation", backend,
                 s->address, gai_strerror(rc));
    }
    atomic_store(&s->weight, cfg->weight);
    atomic_store(&s->backup, cfg->backup);
    snprintf(label, sizeof(label), "%s/%s", backend, s->address);
    if (engine) {
        struct health_endpoint ep = endpoint_of(s, ctx, cfg);
        s->health = health_target_new(engine, label, ctx->hc, &ep, s);
    }
    return s;
}

void lb_server_configure(struct lb_server *s, const struct lb_server_ctx *ctx,
                         const struct config_server *cfg)
{
    if (!s->weight_pinned)
        atomic_store(&s->weight, cfg->weight);
    atomic_store(&s->backup, cfg->backup);
    if (s->health) {
        struct health_endpoint ep = endpoint_of(s, ctx, cfg);
        health_target_configure(s->health, ctx->hc, &ep);
    }
}

struct lb_server *lb_server_ref(struct lb_server *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void lb_server_unref(struct lb_server *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (s->health)
        health_target_free(s->health);
    free(s->backend);
    free(s->address);
    free(s);
}

const char *lb_server_state_name(const struct lb_server *s)
{
    int admin = atomic_load(&s->admin);
    if (admin == LB_ADMIN_MAINT)
        return "maint";
    if (admin == LB_ADMIN_DRAIN)
        return "drain";
    return lb_server_up(s) ? "up" : "down";
}
