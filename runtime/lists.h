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
struct runtime_list {
    char *backend;                 /* backend name */
    bool replaced;                 /* servers replaces the config's list (agent) */
    struct config_server *servers; /* the replacing list, or servers added through the API */
    size_t n;
    char **removed; /* config servers taken out through the API */
    size_t n_removed;
    char **draining; /* servers to remove once their connections are gone */
    size_t n_draining;
    struct runtime_sticky_memo memo; /* sticky manager memory for the backend */
};

struct runtime_lists {
    struct runtime_list *v;
    size_t n;
};

/* The backend's list, or NULL. */
struct runtime_list *runtime_lists_find(struct runtime_lists *ls, const char *backend);
/* The backend's list, made empty when missing. Pointers into ls are valid until the next get. */
struct runtime_list *runtime_lists_get(struct runtime_lists *ls, const char *backend);
void runtime_lists_free(struct runtime_lists *ls);
/* Replaces l's servers with list (taken over). */
void runtime_list_set_servers(struct runtime_list *l, struct config_server *list, size_t n);

bool runtime_lists_has_server(const struct config_server *list, size_t n, const char *address);

bool runtime_strings_has(char *const *v, size_t n, const char *s);
/* Adds a copy of s unless present. */
void runtime_strings_add(char ***v, size_t *n, const char *s);
void runtime_strings_drop(char **v, size_t *n, const char *s);
void runtime_strings_free(char **v, size_t n);

#endif
