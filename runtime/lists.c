/* Run-time server lists and string sets; see lists.h. */
#include "runtime/lists.h"

#include "common/xalloc.h"
#include "config/value.h"

#include <string.h>

struct runtime_list *runtime_lists_find(struct runtime_lists *ls, const char *backend)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].backend, backend) == 0)
            return &ls->v[i];
    return NULL;
}

struct runtime_list *runtime_lists_get(struct runtime_lists *ls, const char *backend)
{
    struct runtime_list *l = runtime_lists_find(ls, backend);
    if (l)
        return l;
    ls->v = xreallocarray(ls->v, ls->n + 1, sizeof(*ls->v));
    l = &ls->v[ls->n++];
    memset(l, 0, sizeof(*l));
    l->backend = xstrdup(backend);
    return l;
}

void runtime_list_set_servers(struct runtime_list *l, struct config_server *list, size_t n)
{
    for (size_t i = 0; i < l->n; i++)
        config_addr_free(&l->servers[i].address);
    free(l->servers);
    l->servers = list;
    l->n = n;
}

void runtime_lists_free(struct runtime_lists *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        struct runtime_list *l = &ls->v[i];
        runtime_list_set_servers(l, NULL, 0);
        runtime_strings_free(l->removed, l->n_removed);
        runtime_strings_free(l->draining, l->n_draining);
        free(l->backend);
    }
    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
}

bool runtime_lists_has_server(const struct config_server *list, size_t n, const char *address)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].address.text, address) == 0)
            return true;
    return false;
}

bool runtime_strings_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

void runtime_strings_add(char ***v, size_t *n, const char *s)
{
    if (runtime_strings_has(*v, *n, s))
        return;
    *v = xreallocarray(*v, *n + 1, sizeof(**v));
    (*v)[(*n)++] = xstrdup(s);
}

void runtime_strings_drop(char **v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(v[i], s) == 0) {
            free(v[i]);
            v[i] = v[--*n];
            return;
        }
}

void runtime_strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
