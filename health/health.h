/* health/: decides whether each server is up, from active probes and from the connect failures
 * that workers report, and tells the rest of k3lb when that changes.
 *
 * Threading: the engine and every function here run on the main thread, except health_is_up
 * and health_report_connect, which workers call on their data path (atomics, no locks). */
#ifndef K3LB_HEALTH_HEALTH_H
#define K3LB_HEALTH_HEALTH_H

#include "health/health-t.h"

struct event_base;

extern const char *const health_result_names[];

/* advice.c: warnings about k3s and https checks that load but cannot pass against a real K3s
 * server, or trust less than they seem to (k3lb check, serve and each reload give them). */
void health_config_advice(const struct config *cfg, struct config_errors *errs);

enum health_event {
    HEALTH_EVENT_DOWN = 0, /* the target went down */
    HEALTH_EVENT_UP,       /* the target came up */
    HEALTH_EVENT_PROBE,    /* a probe ended without changing up/down */
};

/* Called on the main thread when a target goes up or down, and after every probe. */
typedef void (*health_change_cb)(void *arg, struct health_target *t, enum health_event ev);

struct health *health_new(struct event_base *base, health_change_cb cb, void *arg);
void health_free(struct health *h);

/* Starts probing (first probe at a random point of the interval, to spread many servers).
 * A target from the config starts up: traffic flows at once and a dead server is found by its
 * first failures. One added at run time (start_down) takes traffic only once checks pass. */
struct health_target *health_target_new(struct health *h, const char *label,
                                        const struct config_health *cfg,
                                        const struct health_endpoint *ep, void *owner);
/* New parameters after a reload; the up/down state is kept. */
void health_target_configure(struct health_target *t, const struct config_health *cfg,
                             const struct health_endpoint *ep);
void health_target_free(struct health_target *t);

static inline bool health_is_up(const struct health_target *t)
{
    return atomic_load_explicit(&t->up, memory_order_relaxed);
}

/* When the server last came back up after a failure (monotonic ms), or 0: never. */
static inline uint64_t health_recovered_at(const struct health_target *t)
{
    return atomic_load_explicit(&t->recovered_at_ms, memory_order_relaxed);
}

static inline void *health_target_owner(const struct health_target *t)
{
    return t->owner;
}
/* A target that went down has its open connections closed: on_down close, unless the server
 * itself said it is stopping (it finishes what it serves, and new connections go elsewhere). */
static inline bool health_closes_on_down(const struct health_target *t)
{
    return t->p.on_down == CONFIG_ON_DOWN_CLOSE && t->last != HEALTH_RESULT_SHUTTING_DOWN;
}

/* A worker's connect to the server, begun at started_ms (monotonic), succeeded or failed. fall
 * consecutive failures take the server down at once; the main thread is told to log it and
 * act. A failure of a connect begun before the server last came up does not count. Any
 * thread. */
void health_report_connect(struct health_target *t, bool ok, uint64_t started_ms);

/* Main thread: the server just answered a request as costly as a probe, for someone else
 * (the agent's list poll): an up, settled target skips the probe now due (once), so that the
 * server sees no more requests than from probes alone. */
void health_target_answered(struct health_target *t);
void health_target_status(const struct health_target *t, struct health_status *out);

/* The server's address became known (a host name resolved). */
void health_target_set_addr(struct health_target *t, const struct net_sockaddr *addr);

/* Join readiness (a backend's requires): t is up only while every target in needs is up, and
 * never while missing says why it cannot be (no server of a required backend on its host).
 * Replaces what it required before; the state is published at once. */
void health_target_require(struct health_target *t, struct health_target *const *needs, size_t n,
                           const char *missing);

/* Maintenance: no probes while paused; probing resumes soon after. */
void health_target_pause(struct health_target *t, bool paused);

/* Main thread: a probe has finished since the target was made. */
static inline bool health_checked(const struct health_target *t)
{
    return t->last != HEALTH_RESULT_NONE;
}
/* Main thread: the last probe passed. */
static inline bool health_last_ok(const struct health_target *t)
{
    return t->last == HEALTH_RESULT_OK;
}
/* Main thread: down, and passing checks on its way back up. */
static inline bool health_recovering(const struct health_target *t)
{
    return !health_is_up(t) && t->rise_count > 0;
}

#endif
