/* Listening sockets by address: opened once (one per worker with SO_REUSEPORT, or one shared
 * exclusive socket), found again by address across reloads, taken over from a binary upgrade,
 * and shut when a config drops them. The registry itself is the runtime's. Main thread. */
#include "runtime/listeners.h"

#include "common/net.h"
#include "common/upgrade.h"
#include "common/xalloc.h"
#include "config/value.h"
#include "lb/view.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

struct lb_listen *runtime_listen_find(struct lb_listen *const *reg, size_t n,
                                      const struct net_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(reg[i]->addr.text, a->text) == 0)
            return reg[i];
    return NULL;
}

/* SO_REUSEPORT would let a second k3lb (or anything run by the same user) share the port
 * silently; one plain bind first turns that into a clear "address in use". */
static int probe_free(const struct net_addr *a, char *err, size_t errlen)
{
    int fd = net_listen(a, false, 1, err, errlen);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* exclusive: one socket without SO_REUSEPORT, shared by the workers. A SO_REUSEPORT group
 * takes in any later socket of the same user on the address: beside a K3s agent (root, like
 * k3lb) a balancer bound after k3lb would silently get a share of its clients. Without it, that
 * later bind fails loudly instead. */
struct lb_listen *runtime_listen_open(const struct net_addr *a, unsigned n_workers, bool exclusive,
                                      char *err, size_t errlen)
{
    struct lb_listen *l = xcalloc(1, sizeof(*l));
    config_addr_copy(&l->addr, a);
    l->n_fds = n_workers;
    l->fds = xreallocarray(NULL, l->n_fds, sizeof(int));
    for (size_t i = 0; i < l->n_fds; i++)
        l->fds[i] = -1;
    l->refs = 1;
    l->fds[0] = upgrade_take_listen(a->text, 0);
    if (l->fds[0] < 0 && probe_free(a, err, errlen) < 0)
        goto fail;
    if (exclusive && l->fds[0] < 0 &&
        (l->fds[0] = net_listen(a, false, LISTEN_BACKLOG, err, errlen)) < 0)
        goto fail;
    for (size_t i = 0; i < l->n_fds; i++) {
        if (l->fds[i] < 0)
            l->fds[i] = upgrade_take_listen(a->text, i); /* handed over by an upgrade */
        if (l->fds[i] < 0 && exclusive && (l->fds[i] = fcntl(l->fds[0], F_DUPFD_CLOEXEC, 0)) < 0) {
            snprintf(err, errlen, "%s: %s", a->text, strerror(errno));
            goto fail;
        }
        if (l->fds[i] < 0 && (l->fds[i] = net_listen(a, true, LISTEN_BACKLOG, err, errlen)) < 0)
            goto fail;
    }
    return l;
fail:
    lb_listen_unref(l);
    return NULL;
}

void runtime_listen_shut(const struct lb_listen *l)
{
    for (size_t j = 0; j < l->n_fds; j++)
        shutdown(l->fds[j], SHUT_RD);
}

/* Addresses a new config dropped: out of LISTEN now, so that clients are refused at once
 * instead of waiting in a backlog nobody accepts from (the sockets themselves close when the
 * last view using them goes). */
void runtime_listens_refuse_removed(struct lb_listen *const *reg, size_t n,
                                    struct lb_listen *const *keep, size_t n_keep)
{
    for (size_t i = 0; i < n; i++) {
        bool kept = false;
        for (size_t k = 0; k < n_keep && !kept; k++)
            kept = keep[k] == reg[i];
        if (!kept)
            runtime_listen_shut(reg[i]);
    }
}

struct upgrade_socket *runtime_view_sockets(const struct lb_view *v, size_t *n)
{
    struct upgrade_socket *socks;
    size_t total = 0;
    for (size_t f = 0; f < v->n_fronts; f++)
        total += v->fronts[f].n_listen;
    socks = xcalloc(total, sizeof(*socks));
    *n = 0;
    for (size_t f = 0; f < v->n_fronts; f++)
        for (size_t j = 0; j < v->fronts[f].n_listen; j++) {
            const struct lb_listen *l = v->fronts[f].listen[j];
            socks[(*n)++] = (struct upgrade_socket){l->addr.text, l->fds, l->n_fds};
        }
    return socks;
}
