/* A worker thread: one event base, its share of every listening address, its connections. */
#ifndef K3LB_LB_WORKER_T_H
#define K3LB_LB_WORKER_T_H

#include "lb/conn-t.h"
#include "common/mailbox-t.h"
#include "lb/forward-t.h"
#include "lb/view-t.h"

#include <pthread.h>

/* A worker's hold on one view: the balancing memory for its pools and a count of the worker's
 * connections still using it. */
struct lb_wview {
    struct lb_view *view;      /* a reference */
    unsigned conns;            /* this worker's connections accepted under it */
    struct balance_state *bal; /* one per pool */
    struct lb_wview *next;     /* list of retired views that still have connections */
};

/* The worker's accept event on its own socket of one listen address. */
struct lb_wlisten {
    struct event ev;     /* EV_READ|EV_PERSIST on fd */
    int fd;              /* owned by the lb_listen, not by the worker */
    size_t front;        /* index of its frontend in the current view */
    struct lb_worker *w; /* back pointer for the callback */
};

/* Commands from the main thread (mailbox message types). */
enum lb_worker_cmd {
    LB_WORKER_VIEW = 0,     /* adopt a new view (ptr: a reference to it) */
    LB_WORKER_CLOSE_SERVER, /* close connections of a server that went down (ptr: server) */
    LB_WORKER_STOP_ACCEPT,  /* stop accepting; open connections continue */
    LB_WORKER_EXIT,         /* close everything and leave the loop */
    LB_WORKER_KICK,         /* queued connections: a slot may have come free */
};

/* Reports from workers to the main thread. */
enum lb_worker_report {
    LB_REPORT_VIEW_FREE = 100, /* the last reference to a view is gone (ptr: view) */
};

struct lb_worker {
    unsigned id;                 /* 0..workers-1, indexes per-worker listening fds */
    pthread_t thread;            /* its thread */
    bool started;                /* the thread runs (else its mailbox is drained at free) */
    struct event_base *base;     /* its loop; only this thread touches it */
    struct mailbox mbox;         /* commands in */
    struct mailbox *main_mbox;   /* reports out */
    struct lb_wview *cur;        /* view for new connections */
    struct lb_wview *retired;    /* older views with connections left */
    struct lb_wlisten **listens; /* accept events */
    size_t n_listens;
    struct event *accept_pause; /* re-enables accept after running out of fds */
    bool accepting;             /* listeners are armed */
    bool accept_paused;         /* accept failed for want of descriptors; logged once */
    bool full;                  /* accepting paused: maxconn reached */
    bool stopped;               /* told to stop accepting for good */
    size_t max_conns;           /* maxconn (over all workers) */
    atomic_size_t *total_conns; /* client connections of all workers */
    struct event *full_recheck; /* while full, looks again every 10 ms */
    struct lb_conn *conns;      /* open connections (doubly linked) */
    size_t n_conns;
    struct lb_conn *free_conns; /* recycled connection structs */
    struct lb_conn_home home;   /* what its connections see of it */
    size_t n_free_conns;
    struct lb_fwd bufs; /* forwarding buffers */
    uint64_t rng;       /* seed source for balance states */
};

#endif
