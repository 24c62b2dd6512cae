/* The interface between the health engine and one check kind (one file per kind).
 *
 * The engine creates a probe, starts its deadline, and calls the kind's start(). The kind
 * drives its own I/O on the engine's event base and reports exactly once through
 * health_probe_done() (or is aborted by the engine at the deadline, after which it must not
 * report). Internal to health/. */
#ifndef K3LB_HEALTH_CHECK_H
#define K3LB_HEALTH_CHECK_H

#include "health/health-t.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

struct health_probe;

/* What a stream-based kind is told (see health_stream_open). */
struct health_stream_cbs {
    void (*ready)(struct health_probe *p);                     /* connected (TLS: handshaken) */
    void (*data)(struct health_probe *p, struct evbuffer *in); /* bytes arrived */
    void (*eof)(struct health_probe *p, struct evbuffer *in);  /* the server closed */
};

struct health_probe {
    struct health_target *t;      /* the target being probed */
    struct event_base *base;      /* where the kind registers its events */
    struct event *deadline;       /* the engine's timeout */
    uint64_t start_ms;            /* for latency */
    int fd;                       /* the kind's raw socket, -1 if none */
    struct net_sockaddr sa;       /* where health_probe_connect dialled (the check port's) */
    unsigned port;                /* dial this port instead of the check's (the API server's
                                     beside a supervisor), 0: the check's */
    char note[160];               /* what an earlier request of this probe found, for the
                                     final detail */
    struct event *io;             /* the kind's raw socket event, or NULL */
    struct bufferevent *bev;      /* or the kind's stream, plain or TLS */
    SSL *ssl;                     /* the stream's TLS state, owned by bev */
    bool connected;               /* the stream is up (TLS: handshake done) */
    bool reused;                  /* the stream was kept open from an earlier probe */
    SSL_CTX *pending_ctx;         /* TLS context to start once the TCP connect is done */
    struct health_stream_cbs cbs; /* the kind's stream callbacks */
    void *ctx;                    /* the kind's own state (malloc'd; the engine frees it) */
    void (*tunneled)(struct health_probe *p);          /* what follows a proxy's CONNECT */
    void (*on_io)(struct health_probe *p, short what); /* health_probe_wait's continuation */
};

struct health_check_ops {
    const char *name;                      /* kind name, as in config */
    void (*start)(struct health_probe *p); /* begin; report via health_probe_done */
    void (*abort)(struct health_probe *p); /* free the kind's state (fd/io are the engine's) */
};

/* ---- the engine (health/health.c) ---- */

/* Reports the outcome; the engine frees the probe. detail may be NULL for OK. */
void health_probe_done(struct health_probe *p, enum health_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One probe's verdict into t's rise/fall state machine (the probes' path; tests call it). */
void health_record(struct health_target *t, enum health_result r, const char *detail);
struct event_base *health_target_base(const struct health_target *t);
/* Publishes t's state again after something outside its probes changed (its agent's word). */
void health_target_republish(struct health_target *t, const char *why);

/* ---- the plumbing to the server (health/probe.c) ---- */

/* The address probes of t go to (check_address, health.port), on port when not 0. */
void health_target_addr(const struct health_target *t, unsigned port, struct net_sockaddr *out);

/* Opens a non-blocking socket and starts a connect to the target; on success p->fd is set.
 * Returns 0, or an errno value (the probe is not yet reported). */
int health_probe_connect(struct health_probe *p);
/* Waits for the connect started on p->fd: reports a failure with its exact errno, else goes
 * on as health_probe_through does. */
void health_probe_await_connect(struct health_probe *p, void (*then)(struct health_probe *p));
/* Once p->fd is connected: through a proxy, asks it to CONNECT to the server and calls then
 * when the tunnel is up (or reports the proxy's refusal); directly, calls then at once. */
void health_probe_through(struct health_probe *p, void (*then)(struct health_probe *p));
/* For kinds whose client library dials by itself (libpq, MariaDB Connector/C): where the
 * probe goes (check_address, check port applied), as an IP literal and a port. */
void health_probe_host(const struct health_probe *p, char *host, size_t len, unsigned *port);
/* Waits once until the library's socket fd is ready for what (EV_READ, EV_WRITE, both), then
 * calls then with what happened. The socket stays the library's: the kind's abort must call
 * health_probe_unwait before the library closes it. */
void health_probe_wait(struct health_probe *p, int fd, short what,
                       void (*then)(struct health_probe *p, short what));
void health_probe_unwait(struct health_probe *p);
/* Maps a connect/socket errno to a result and a human detail, then reports. */
void health_probe_fail_errno(struct health_probe *p, int err, const char *what);

/* ---- streams, kept between probes (health/stream.c) ---- */

/* Opens a stream to the target: plain when ctx is NULL, else TLS verified per the target's
 * parameters (the SAN guard runs after the handshake). Connect and TLS failures are reported
 * here; the kind only sees cbs. Replaces a stream already open. With reuse, a stream kept open
 * by an earlier probe with the same ctx is taken instead when there is one (cbs.ready runs at
 * once); if it turns out closed before anything arrived, a fresh one is opened. */
void health_stream_open(struct health_probe *p, SSL_CTX *ctx, const struct health_stream_cbs *cbs,
                        bool reuse);
/* Keeps the probe's stream open for the next probe (HTTP keep-alive); one per TLS context and
 * port, up to HEALTH_KEPT. */
void health_stream_keep(struct health_probe *p);
/* Closes a kept stream, if any. */
void health_stream_drop_kept(struct health_target *t);

/* Indexed by enum config_check_kind; NULL for "none". */
extern const struct health_check_ops *const health_check_kinds[CONFIG_CHECK_COUNT];

extern const struct health_check_ops check_tcp_ops;
extern const struct health_check_ops check_tls_ops;
extern const struct health_check_ops check_http_ops;
extern const struct health_check_ops check_k3s_ops;
extern const struct health_check_ops check_etcd_ops;
extern const struct health_check_ops check_postgres_ops;
extern const struct health_check_ops check_mysql_ops;

#endif
