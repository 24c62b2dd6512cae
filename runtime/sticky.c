/* Sticky state machine; see sticky.h. */
#include "runtime/sticky.h"

#include "health/health.h"
#include "lb/balance.h"
#include "lb/server.h"
#include "lb/view.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>

/* A server healthy again after a failure is PREFERRED this long (K3s's agent balancer does
 * the same): it has just proven itself, where a server that was never tried has not. */
#define PREFERRED_MS 60000

/* A server's state before choosing the ACTIVE one. */
static enum lb_agent_state base_state(struct lb_server *s, uint64_t now)
{
    const struct health_target *t = s->health;
    bool up = lb_server_up(s);
    if (!up) {
        /* A server that was never up (checked before its first use) has not recovered from
         * anything when it comes up: it is HEALTHY, not PREFERRED. */
        s->was_failed = s->was_failed || s->seen_up;
        return t && health_recovering(t) ? LB_AGENT_RECOVERING : LB_AGENT_FAILED;
    }
    s->seen_up = true;
    if (s->standby)
        return LB_AGENT_STANDBY;
    if (t && !health_checked(t))
        return LB_AGENT_UNCHECKED;
    if (t && !health_last_ok(t))
        return LB_AGENT_RECOVERING; /* up, but its last probe failed: not one to move to */
    if (s->was_failed) {            /* just recovered */
        s->was_failed = false;
        s->preferred_until_ms = now + PREFERRED_MS;
    }
    return now < s->preferred_until_ms ? LB_AGENT_PREFERRED : LB_AGENT_HEALTHY;
}

static const struct lb_server *find(const struct lb_pool *pool, const char *address)
{
    for (size_t i = 0; address[0] && i < pool->n; i++)
        if (strcmp(pool->srv[i]->address, address) == 0)
            return pool->srv[i];
    return NULL;
}

/* The best server that may be ACTIVE (PREFERRED, then HEALTHY, in list order), or -1. */
static int best_candidate(const struct lb_pool *pool, const enum lb_agent_state *st)
{
    int best = -1;
    for (size_t i = 0; i < pool->n; i++)
        if (st[i] <= LB_AGENT_HEALTHY && (best < 0 || st[i] < st[best]))
            best = (int)i;
    return best;
}

static void publish(const struct lb_pool *pool, const enum lb_agent_state *st, const char *why)
{
    for (size_t i = 0; i < pool->n; i++) {
        struct lb_server *s = pool->srv[i];
        int old = atomic_exchange(&s->agent_state, (int)st[i]);
        if (old != (int)st[i])
            log_info("agent_state", "%s/%s: %s -> %s%s%s", s->backend, s->address,
                     lb_agent_state_names[old], lb_agent_state_names[st[i]],
                     st[i] == LB_AGENT_ACTIVE && why ? ": " : "",
                     st[i] == LB_AGENT_ACTIVE && why ? why : "");
    }
}

bool runtime_sticky_update(const struct lb_pool *pool, struct runtime_sticky_memo *memo,
                           uint64_t now_ms)
{
    enum lb_agent_state st[pool->n ? pool->n : 1];
    const struct lb_server *active = find(pool, memo->active);
    const char *why = NULL;
    bool moved = false;
    int cur = -1, next;

    for (size_t i = 0; i < pool->n; i++) {
        st[i] = base_state(pool->srv[i], now_ms);
        if (pool->srv[i] == active)
            cur = (int)i;
    }
    next = best_candidate(pool, st);
    if (cur >= 0 && lb_server_up(pool->srv[cur]) && st[cur] != LB_AGENT_STANDBY) {
        next = cur; /* sticky: the ACTIVE stays until it is down, whatever single probes say */
    } else if (cur >= 0 && st[cur] == LB_AGENT_STANDBY && next >= 0) {
        why = "a learned server is healthy again; leaving the fixed address"; /* fail-back */
    } else if (cur >= 0 && st[cur] == LB_AGENT_STANDBY) {
        next = cur; /* nothing better: the fixed address stays */
    } else if (memo->active[0]) {
        why = cur < 0 ? "the active server left the list" : "the active server failed";
    }
    if (next < 0) {
        /* No healthy learned server (the ACTIVE one, if any, just failed): the fixed address,
         * if up, carries traffic as the last resort, from this update on. */
        for (size_t i = 0; i < pool->n && next < 0; i++)
            if (st[i] == LB_AGENT_STANDBY)
                next = (int)i;
        if (next >= 0)
            why = "no learned server is healthy: the fixed address is the last resort";
    }
    if (next >= 0 && pool->srv[next] != active) {
        if (memo->active[0])
            snprintf(memo->previous, sizeof(memo->previous), "%s", memo->active);
        snprintf(memo->active, sizeof(memo->active), "%s", pool->srv[next]->address);
        if (!why)
            why = "first healthy server";
        moved = true;
    } else if (next < 0 && memo->active[0]) {
        snprintf(memo->previous, sizeof(memo->previous), "%s", memo->active);
        memo->active[0] = '\0';
    }
    if (next >= 0)
        st[next] = LB_AGENT_ACTIVE;
    publish(pool, st, why);
    return moved;
}
