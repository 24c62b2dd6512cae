/* A proxied connection: a client socket, a server socket, two flows between them. */
#ifndef K3LB_LB_CONN_T_H
#define K3LB_LB_CONN_T_H

#include "lb/balance-t.h"
#include "lb/forward-t.h"

#include <netinet/in.h>
#include <stdatomic.h>

/* States. A connection only moves forward through them:
 *
 *   [HEADER] --PROXY header read--> [HELLO] --routed--> CONNECTING --connected--> FORWARDING
 *       |                            |                   |  \--connect failed, another
 *       \--bad or late header------> +--no route-------> +--no server / error / kill--> CLOSED
 *   FORWARDING --one flow done--> HALF_CLOSED --other flow done--> CLOSED
 */
enum lb_conn_state {
    LB_CONN_CONNECTING = 0, /* picking a server and waiting for its connect */
    LB_CONN_HEADER,         /* accept_proxy: waiting for the client's PROXY protocol header */
    LB_CONN_HELLO,          /* routes: peeking at the client's TLS hello for its server name */
    LB_CONN_QUEUED,         /* maxconn: every server that could take it is full; waiting */
    LB_CONN_TUNNELING,      /* connected to the server's proxy, waiting for its CONNECT answer */
    LB_CONN_FORWARDING,     /* both directions open */
    LB_CONN_HALF_CLOSED,    /* one side sent FIN, passed on; the other direction still flows */
    LB_CONN_CLOSED,         /* finished; the struct goes back to the pool */
};

/* What woke the connection up. */
enum lb_conn_event {
    LB_CONN_EV_START = 0, /* just accepted */
    LB_CONN_EV_IO,        /* a socket's readiness changed (flags already updated) */
    LB_CONN_EV_TIMER,     /* connect deadline or idle check */
    LB_CONN_EV_KILL,      /* its server went down, or k3lb is stopping */
    LB_CONN_EV_KICK,      /* queued: a slot may have come free */
};

/* How a connection ended: logs, counters, access log. One row each: the enum, the word the
 * access log writes, what it means. */
#define LB_CONN_ENDS(X)                                                                            \
    X(NONE, "open", "still open")                                                                  \
    X(CLOSED, "closed", "both sides closed normally")                                              \
    X(CLIENT_RESET, "client_reset", "the client reset or failed")                                  \
    X(SERVER_RESET, "server_reset", "the server reset or failed")                                  \
    X(IDLE_TIMEOUT, "idle_timeout", "no data for idle_timeout")                                    \
    X(NO_SERVER, "no_server", "no server accepted the connect")                                    \
    X(KILLED, "killed", "closed because its server went down")                                     \
    X(SHUTDOWN, "shutdown", "closed because k3lb stopped")                                         \
    X(LOCAL_ERROR, "local_error", "out of memory or file descriptors")                             \
    X(BAD_HEADER, "bad_header", "accept_proxy: the PROXY header was bad, missing or late")         \
    X(NO_ROUTE, "no_route", "routes: no route took the client and there is no default")            \
    X(QUEUE_TIMEOUT, "queue_timeout", "maxconn: no slot came free within queue_timeout")           \
    X(QUEUE_FULL, "queue_full", "maxconn: the queue was at max_queue")

enum lb_conn_end {
#define LB_CONN_END_ENUM(e, name, help) LB_END_##e,
    LB_CONN_ENDS(LB_CONN_END_ENUM)
#undef LB_CONN_END_ENUM
};

struct lb_wview;
struct lb_front;
struct lb_view;
struct lb_src_entry;
struct lb_conn;

/* What a connection needs from the thread that owns it (a worker embeds one): its loop, its
 * forwarding buffers, and where a finished connection goes. conn.c knows nothing else of
 * workers. */
struct lb_conn_home {
    struct event_base *base; /* the owning thread's loop */
    struct lb_fwd *bufs;     /* its forwarding buffers and pipes */
    /* Takes a finished connection back (the struct is the owner's again). */
    void (*done)(struct lb_conn_home *home, struct lb_conn *c);
    /* Any thread: makes the owner call lb_conn_home_kick soon, from its own loop. */
    void (*kick)(struct lb_conn_home *home);
    atomic_bool kick_pending; /* a kick is posted and not yet run */
    struct lb_conn *queued;   /* its connections waiting in a queue (linked by hnext) */
};

struct lb_conn {
    enum lb_conn_state state;      /* see above */
    enum lb_conn_end end;          /* why it ended, once CLOSED */
    struct lb_conn_home *home;     /* owning thread; all access happens on it */
    struct lb_wview *wv;           /* the owner's hold on the view it was accepted under (opaque) */
    struct lb_front *front;        /* frontend counters */
    const struct lb_view *view;    /* that view: its pools, for routing */
    struct balance_state *bals;    /* the worker's balancing memory, one per pool of view */
    size_t front_index;            /* its frontend in view */
    const struct lb_pool *pool;    /* the backend's servers in that view (NULL until routed) */
    struct balance_state *bal;     /* the worker's balancing memory for pool */
    struct lb_server *server;      /* server assigned now, or NULL */
    struct lb_side cs;             /* client socket */
    struct lb_side ss;             /* server socket */
    struct lb_flow up;             /* client -> server */
    struct lb_flow down;           /* server -> client */
    struct event timer;            /* connect deadline, then idle check */
    struct balance_tried tried;    /* servers this connection already tried */
    uint64_t client_hash;          /* hash of the client address (source balancing) */
    uint64_t start_ms;             /* accept time */
    uint64_t dial_us;              /* when the first connect began (monotonic, us): one dial
                                      is the whole try of every server, as K3s observes it */
    struct lb_server *dialed;      /* the last server a connect went to */
    uint64_t attempt_ms;           /* when the connect under way began (monotonic) */
    uint64_t io_ms;                /* last time bytes moved */
    bool have_local;               /* local holds the address the client reached (from a header) */
    unsigned retries;              /* connects that failed before the current one */
    bool access_log;               /* log a line when it ends */
    const char *front_name;        /* frontend name (in the view's snapshot) */
    const char *server_name;       /* address of the server it last used, for the access log */
    struct lb_conn *prev, *next;   /* worker's list of open connections */
    struct lb_conn *qprev, *qnext; /* queued: its place in pool->queue (under its lock) */
    struct lb_conn *hprev, *hnext; /* queued: its place in home->queued */
    uint64_t queued_ms;            /* queued: since when (monotonic) */
    bool slot_held;                /* leaving the queue: the picked server's slot is taken */
    struct lb_src_entry *src;      /* its count in the frontend's source table, or NULL */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer; /* client address: the socket's, or the one its PROXY header gave */
    struct sockaddr_storage local; /* the address the client reached, when have_local */
};

#endif
