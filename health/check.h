/* The interface between the health engine and one check kind (one file per kind).
 *
 * The engine creates a probe, starts its deadline, and calls the kind's start(). The kind
 * drives its own I/O on the engine's event base and reports exactly once through
 * health_probe_done() (or is aborted by the engine at the deadline, after which it must not
 * report). Internal to health/. */
#ifndef K3LB_HEALTH_CHECK_H
#define K3LB_HEALTH_CHECK_H

#include "health-t.h"

#include <event2/event.h>

struct health_probe {
    struct health_target *t; /* the target being probed */
    struct event_base *base; /* where the kind registers its events */
    struct event *deadline;  /* the engine's timeout */
    uint64_t start_ms;       /* for latency */
    int fd;                  /* the kind's socket, -1 if none */
    struct event *io;        /* the kind's socket event, or NULL */
    void *ctx;               /* the kind's own state */
};

struct health_check_ops {
    const char *name;                      /* kind name, as in config */
    void (*start)(struct health_probe *p); /* begin; report via health_probe_done */
    void (*abort)(struct health_probe *p); /* free the kind's state (fd/io are the engine's) */
};

/* Reports the outcome; the engine frees the probe. detail may be NULL for OK. */
void health_probe_done(struct health_probe *p, enum health_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Opens a non-blocking socket and starts a connect to the target; on success p->fd is set.
 * Returns 0, or an errno value (the probe is not yet reported). */
int health_probe_connect(struct health_probe *p);
/* Maps a connect/socket errno to a result and a human detail, then reports. */
void health_probe_fail_errno(struct health_probe *p, int err, const char *what);

extern const struct health_check_ops check_tcp_ops;

#endif
