/* Binary upgrade: the running k3lb starts its successor (the binary now on disk) and hands it
 * its listening sockets, so that no client is refused; the successor reports ready through a
 * pipe, the old process stops accepting, lets its connections finish and exits.
 *
 * The sockets travel as inherited file descriptors named in the environment:
 *   K3LB_INHERIT_LISTEN="ADDR=fd,fd;ADDR=fd"  K3LB_INHERIT_ADMIN=fd  K3LB_UPGRADE_READY=fd */
#ifndef K3LB_LB_UPGRADE_H
#define K3LB_LB_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct lb_runtime;

/* Old side: fork and exec the binary found at the path this one was started from (the new
 * one, after a package upgrade) with the sockets; *ready_fd gets the read end of the pipe the
 * successor writes "ready" to. Returns the pid, or -1. */
pid_t lb_upgrade_spawn(const struct lb_runtime *rt, int admin_fd, char *const argv[],
                       int *ready_fd);

/* Called once at start: remembers the binary's path, and when started by an upgrade reads (and
 * removes) the variables. */
void lb_upgrade_inherit(void);
/* An inherited socket for a listen address, for worker i, or -1. */
int lb_upgrade_take_listen(const char *address, size_t i);
/* The inherited admin socket, or -1. */
int lb_upgrade_take_admin(void);
/* True when started by an upgrade. */
bool lb_upgrade_inherited(void);
/* Tells the old process (and the service manager: MAINPID) that this one serves now; closes
 * inherited sockets nobody took. */
void lb_upgrade_ready(void);

#endif
