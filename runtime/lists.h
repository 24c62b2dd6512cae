/* Server lists set at run time (agent sources, admin API), kept per backend across reloads, and
 * the small string-set helpers they use. Pure data: no events, no views. Main thread. */
#ifndef K3LB_RUNTIME_LISTS_H
#define K3LB_RUNTIME_LISTS_H

#include "config/config-t.h"
#include "runtime/sticky.h"

#include <stdbool.h>
#include <stddef.h>

/* A backend's server list set at run time. For a sticky backend it is the learned list; the
 * config's servers (the fixed address) are added when missing. */
struct lb_list {
    char *backend;                 /* backend name */
    bool replaced;                 /* servers replaces the config's list (agent) */
    struct config_server *servers; /* the replacing list, or servers added through the API */
    size_t n;
    char **removed; /* config servers taken out through the API */
    size_t n_removed;
    char **draining; /* servers to remove once their connections are gone */
    size_t n_draining;
    struct lb_sticky_memo memo; /* sticky manager memory for the backend */
};

struct lb_lists {
    struct lb_list *v;
    size_t n;
};

/* The backend's list, or NULL. */
struct lb_list *lb_lists_find(struct lb_lists *ls, const char *backend);
/* The backend's list, made empty when missing. Pointers into ls are valid until the next get. */
struct lb_list *lb_lists_get(struct lb_lists *ls, const char *backend);
void lb_lists_free(struct lb_lists *ls);
/* Replaces l's servers with list (taken over). */
void lb_list_set_servers(struct lb_list *l, struct config_server *list, size_t n);

bool lb_lists_has_server(const struct config_server *list, size_t n, const char *address);

bool lb_strings_has(char *const *v, size_t n, const char *s);
/* Adds a copy of s unless present. */
void lb_strings_add(char ***v, size_t *n, const char *s);
void lb_strings_drop(char **v, size_t *n, const char *s);
void lb_strings_free(char **v, size_t n);

#endif
