/* Inside admin/: the admin listener's state, shared by the API (admin/admin.c: replies,
 * handlers, dispatch) and the listener machinery under it (admin/listener.c: the socket,
 * the connection cap, eviction, accept pausing), which hands each request to admin_answer. */
#ifndef K3LB_ADMIN_ADMIN_INT_H
#define K3LB_ADMIN_ADMIN_INT_H

#include "admin/admin.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;
struct bufferevent;
struct event;

#define ADMIN_MAX_BODY    65536
#define ADMIN_MAX_HEADERS 16384
#define ADMIN_TIMEOUT_S   10

/* A connection's stream, with a reference of ours. */
struct admin_conn {
    struct bufferevent *bev;
    uint64_t since_ms; /* accepted at (monotonic) */
    bool evicted;      /* shut down to make room; evhttp closes it on its next read */
};

struct admin {
    struct evhttp *http;               /* libevent's HTTP server */
    struct runtime *rt;                /* what it reports on and commands */
    struct admin_hooks hooks;          /* commands offered by others; NULL members when absent */
    char *token;                       /* bearer token clients must send, or NULL */
    char *unix_path;                   /* socket file to remove at exit, or NULL */
    int fd;                            /* the listening socket */
    struct evhttp_bound_socket *bound; /* libevent's listener on it */
    struct event *resume;              /* re-enables accepting after a shortage */
    bool paused;                       /* accepting paused for want of descriptors */
    struct admin_conn *conns;          /* open connections, oldest first */
    size_t n_conns;
    bool full;    /* ADMIN_MAX_CONNS open, none of them idle: accepting paused */
    bool crowded; /* ADMIN_MAX_CONNS reached: an episode, logged once */
};

/* Open admin connections at most: each holds a descriptor the balancer may need. Idle ones
 * are closed after ADMIN_TIMEOUT_S, and sooner when a new client needs the room: the oldest
 * that is not writing an answer goes, so idle clients (slowloris) never lock the API out. */
#define ADMIN_MAX_CONNS 32
/* A connection younger than this is never closed to make room: its request may be on its way. */
#define ADMIN_IDLE_MIN_MS 250

#define ADMIN_PAUSE_MS 250

/* The API's answer to one request (admin/admin.c). */
void admin_answer(struct admin *a, struct evhttp_request *req);

#endif
