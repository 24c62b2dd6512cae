/* Checks that span objects: unique names, frontend -> backend references, listen addresses that
 * would collide. Runs after every object passed its own checks. */
#include "config/keys.h"
#include "common/xalloc.h"
#include "config/node.h"

#include <stdlib.h>
#include <string.h>

static void check_unique_names(struct config *c, struct config_errors *errs)
{
    for (size_t i = 0; i < c->n_frontends; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->frontends[i].name, c->frontends[j].name) == 0)
                config_error_add(
                    errs, config_mark_of(&c->frontends[i].obj, &config_frontend_section, "name"),
                    "frontend name '%s' is used twice (first at line %u)", c->frontends[i].name,
                    c->frontends[j].obj.mark.line);
    for (size_t i = 0; i < c->n_backends; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->backends[i].name, c->backends[j].name) == 0)
                config_error_add(
                    errs, config_mark_of(&c->backends[i].obj, &config_backend_section, "name"),
                    "backend name '%s' is used twice (first at line %u)", c->backends[i].name,
                    c->backends[j].obj.mark.line);
}

static void resolve_backends(struct config *c, struct config_errors *errs)
{
    const char **names = xcalloc(c->n_backends + 1, sizeof(*names));
    for (size_t i = 0; i < c->n_backends; i++)
        names[i] = c->backends[i].name;
    for (size_t i = 0; i < c->n_frontends; i++) {
        struct config_frontend *f = &c->frontends[i];
        size_t b;
        for (b = 0; b < c->n_backends; b++)
            if (strcmp(f->backend, c->backends[b].name) == 0)
                break;
        f->backend_index = b;
        if (b < c->n_backends)
            continue;
        const char *close = config_closest(f->backend, names);
        config_error_add(errs, config_mark_of(&f->obj, &config_frontend_section, "backend"),
                         "frontend '%s' names backend '%s', which is not defined%s%s%s", f->name,
                         f->backend, close ? " (did you mean '" : "", close ? close : "",
                         close ? "'?)" : "");
    }
    free(names);
}

/* Every listen address of every frontend, plus the admin one, must be bindable together. */
static void check_listen_overlaps(struct config *c, struct config_errors *errs)
{
    for (size_t i = 0; i < c->n_frontends; i++) {
        struct config_frontend *f = &c->frontends[i];
        for (size_t a = 0; a < f->n_listen; a++) {
            const struct net_addr *addr = &f->listen[a];
            for (size_t j = 0; j <= i; j++) {
                struct config_frontend *g = &c->frontends[j];
                size_t limit = j == i ? a : g->n_listen;
                for (size_t b = 0; b < limit; b++)
                    if (config_addr_overlap(addr, &g->listen[b]))
                        config_error_add(
                            errs, config_mark_of(&f->obj, &config_frontend_section, "listen"),
                            "listen address '%s' of frontend '%s' collides with '%s' of "
                            "frontend '%s'",
                            addr->text, f->name, g->listen[b].text, g->name);
            }
            if (c->admin.listen.port && config_addr_overlap(addr, &c->admin.listen))
                config_error_add(errs, config_mark_of(&f->obj, &config_frontend_section, "listen"),
                                 "listen address '%s' of frontend '%s' collides with the admin "
                                 "listener '%s'",
                                 addr->text, f->name, c->admin.listen.text);
        }
    }
}

void config_check_root(void *obj, struct config_errors *errs)
{
    struct config *c = obj;
    if (c->n_frontends == 0)
        config_error_add(errs, c->obj.mark, "no frontends: nothing would listen");
    if (c->n_backends == 0)
        config_error_add(errs, c->obj.mark, "no backends: nothing to forward to");
    check_unique_names(c, errs);
    resolve_backends(c, errs);
    check_listen_overlaps(c, errs);
}
