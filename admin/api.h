/* The admin API as one table: every route (method and path) with the ctl verb that uses it and
 * one line of help. The server (admin.c) routes by it, `k3lb ctl` builds its requests and its
 * help from it, and a test holds the README against it. */
#ifndef K3LB_ADMIN_API_H
#define K3LB_ADMIN_API_H

#include <stdbool.h>
#include <stddef.h>

/* What a route does; admin.c has one handler per operation. */
enum admin_op {
    ADMIN_OP_STATUS = 0, /* GET the state of everything */
    ADMIN_OP_METRICS,    /* Prometheus text */
    ADMIN_OP_RELOAD,     /* re-read the config file */
    ADMIN_OP_SERVERS,    /* agent: replace the learned list */
    ADMIN_OP_ADD,        /* add a server to a backend */
    ADMIN_OP_SET,        /* change a server's state or weight */
    ADMIN_OP_REMOVE,     /* drain, then remove a server */
    ADMIN_OP_HEALTH,     /* yes or no for the virtual IP's owner */
    ADMIN_OP_LIVE,       /* the process answers: a liveness probe */
    ADMIN_OP_PAGE,       /* the stats page (HTML) */
    ADMIN_OP_COUNT,
};

struct admin_route {
    const char *method; /* "GET", "POST", "PUT", "DELETE" */
    const char *path;   /* with {backend} and {server} for the parts taken from the request */
    enum admin_op op;
    const char *verb; /* the ctl verb that uses it, or NULL */
    const char *args; /* the verb's arguments, for help */
    const char *help; /* one line */
    bool open;        /* answered without the token: it tells nothing and changes nothing */
};

/* Rows of one route with several verbs (drain, ready, maint, weight) share method and path. */
extern const struct admin_route admin_routes[];
extern const size_t admin_n_routes;

/* The parts of a request path that a route's {backend} and {server} matched (decoded). */
struct admin_path_args {
    char backend[256];
    char server[320];
};

/* True when a raw (percent-encoded) request path has the route's shape; fills args with the
 * decoded names. */
bool admin_route_match(const struct admin_route *r, const char *path, struct admin_path_args *args);
/* The route's path with {backend} and {server} filled in and percent-encoded, for clients.
 * False when it does not fit in len. */
bool admin_route_path(const struct admin_route *r, const char *backend, const char *server,
                      char *out, size_t len);

/* Appends "?key=value" (or "&key=value" after a first one) to a path, the value
 * percent-encoded. False when it does not fit in len. */
bool admin_query_append(char *path, size_t len, const char *key, const char *value);

#endif
