/* GET /healthz. A process check (keepalived's "killall -0") cannot see a balancer that runs
 * but has lost every server behind a frontend; this answer can, so the virtual IP moves to
 * the peer that still reaches them. A server counts when it would take a new connection now:
 * ready, weighted and passing its checks (a last-resort pick of a down server does not). */
#include "admin/healthz.h"

#include "config/config.h"
#include "lb/balance.h"
#include "lb/server.h"
#include "lb/view.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Appends to msg like snprintf, never past len. */
static void say(char *msg, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void say(char *msg, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (*used >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(msg + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n < len - *used ? (size_t)n : len - *used - 1;
}

static const struct lb_view_front *find_front(const struct lb_view *v, const char *name)
{
    for (size_t i = 0; i < v->n_fronts; i++)
        if (strcmp(v->fronts[i].cfg->name, name) == 0)
            return &v->fronts[i];
    return NULL;
}

/* The usable servers of every backend a frontend sends clients to: its default (when it has
 * one) and each SNI route's, each backend counted once; *total their servers, names them
 * quoted ('a', 'b'). A routed frontend serves while any of them has a server: one cluster
 * gone must not take the address of the others away. */
static size_t front_usable(const struct lb_view *v, const struct lb_view_front *f, size_t *total,
                           char *names, size_t len)
{
    const struct config_frontend *cf = f->cfg;
    size_t usable = 0, used = 0;
    *total = 0;
    names[0] = '\0';
    for (size_t r = 0; r <= cf->n_routes; r++) {
        size_t b = r == 0 ? f->pool : cf->routes[r - 1].backend_index, seen = 0;
        if (b >= v->n_pools)
            continue; /* no default backend: routes only */
        for (size_t q = 0; q < r; q++)
            seen += (q == 0 ? f->pool : cf->routes[q - 1].backend_index) == b;
        if (seen)
            continue;
        usable += lb_pool_usable(&v->pools[b]);
        *total += v->pools[b].n;
        say(names, len, &used, "%s'%s'", used ? ", " : "", v->pools[b].cfg->name);
    }
    return usable;
}

int admin_healthz(const struct runtime *rt, bool stopping, const char *const *names, size_t n_names,
                  char *msg, size_t len)
{
    const struct lb_view *v = runtime_view(rt);
    size_t n = n_names ? n_names : v->n_fronts, used = 0, bad = 0, ok_used = 0;
    char ok[1024]; /* the passing ones, said only when none fails */

    msg[0] = ok[0] = '\0';
    if (stopping) {
        say(msg, len, &used, "k3lb is stopping");
        return 503;
    }
    /* one pass: each frontend asked about (the named ones, or every one) is looked up and
     * counted once */
    for (size_t i = 0; i < n; i++) {
        const struct lb_view_front *f = n_names ? find_front(v, names[i]) : &v->fronts[i];
        if (!f) {
            used = 0;
            say(msg, len, &used, "no frontend '%s'", names[i]);
            return 404;
        }
        char backends[256];
        size_t total, u = front_usable(v, f, &total, backends, sizeof(backends));
        if (u == 0)
            say(msg, len, &used, "%sfrontend '%s': no usable server in backend %s (0 of %zu)",
                bad++ ? "; " : "", f->cfg->name, backends, total);
        else
            say(ok, sizeof(ok), &ok_used, "%s %s %zu/%zu", i ? "," : ":", f->cfg->name, u, total);
    }
    if (bad)
        return 503;
    say(msg, len, &used, "ok%s%s", ok, n ? " servers usable" : "");
    return 200;
}
