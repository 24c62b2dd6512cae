/* Matching a server name against a frontend's routes. A few routes per frontend is the rule
 * (one per cluster, one for the ingress), so a scan of the snapshot's lists is enough and keeps
 * no second copy of the table to go stale across reloads. */
#include "lb/route.h"

#include <string.h>

/* Length of the suffix *.s of pattern p that name ends in (with a label before it), or 0. */
static size_t wildcard_match(const char *p, const char *name, size_t n)
{
    size_t sl;
    if (p[0] != '*' || p[1] != '.')
        return 0;
    sl = strlen(p + 1); /* ".suffix" */
    if (n <= sl || strcmp(name + n - sl, p + 1) != 0)
        return 0;
    return sl;
}

size_t lb_route_pick(const struct config_frontend *f, const char *name, bool *routed)
{
    size_t n = strlen(name), best_len = 0, best = f->backend_index;
    *routed = false;
    if (!n)
        return f->backend_index;
    for (size_t r = 0; r < f->n_routes; r++)
        for (size_t i = 0; i < f->routes[r].n_sni; i++) {
            const char *p = f->routes[r].sni[i];
            size_t w;
            if (strcmp(p, name) == 0) {
                *routed = true;
                return f->routes[r].backend_index;
            }
            w = wildcard_match(p, name, n);
            if (w > best_len) {
                best_len = w;
                best = f->routes[r].backend_index;
            }
        }
    *routed = best_len > 0;
    return best;
}
