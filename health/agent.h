/* HAProxy's agent-check: beside the health check, a small agent on each server answers one
 * line that says how much traffic the server wants (N% of its weight), whether it takes new
 * clients (ready, drain, maint), whether it is fit at all (up, down) and how many at once
 * (maxconn:N). The engine asks on the agent's own port and interval; an agent that does not
 * answer changes nothing, as reachability is the health check's to judge. Main thread only,
 * except the health_agent_* getters that workers read on their data path. */
#ifndef K3LB_HEALTH_AGENT_H
#define K3LB_HEALTH_AGENT_H

#include "health/health-t.h"

#include <stddef.h>

/* The longest answer read; the rest of a longer line is ignored. */
#define HEALTH_AGENT_LINE_MAX 512

/* What one answer says; -1 where it says nothing. */
struct health_agent_reply {
    int weight_pct; /* 0..100: the share of the configured weight */
    int admin;      /* enum health_agent_admin */
    int up;         /* 1 up, 0 down (down, failed, stopped) */
    long maxconn;   /* 0..1000000, 0: no limit */
    char why[128];  /* the text after '#', trimmed, or "" */
};

/* Reads a line (without its end of line). 0, or -1 with err naming the word at fault; words
 * are separated by spaces, tabs or commas, as HAProxy reads them. */
int health_agent_parse(const char *line, size_t len, struct health_agent_reply *r, char *err,
                       size_t errlen);

/* Starts, changes or stops (cfg->enabled false) asking t's agent. */
void health_agent_configure(struct health_target *t, const struct config_agent_check *cfg);
void health_agent_free(struct health_target *t);

/* For /status: the last answer, or why there is none; NULL when there is no agent. */
const char *health_agent_detail(const struct health_target *t);

static inline int health_agent_weight(const struct health_target *t)
{
    return atomic_load_explicit(&t->agent_weight_pct, memory_order_relaxed);
}

static inline int health_agent_admin(const struct health_target *t)
{
    return atomic_load_explicit(&t->agent_admin, memory_order_relaxed);
}

static inline unsigned health_agent_maxconn(const struct health_target *t)
{
    return atomic_load_explicit(&t->agent_maxconn, memory_order_relaxed);
}

#endif
