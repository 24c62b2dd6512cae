/* Binary upgrade: the running k3lb starts its successor (the binary now on disk) and hands it
 * its listening sockets, so that no client is refused; the successor reports ready through a
 * pipe, the old process stops accepting, lets its connections finish and exits.
 *
 * The sockets travel as inherited file descriptors named in the environment:
 *   K3LB_INHERIT_LISTEN="ADDR=fd,fd;ADDR=fd"  K3LB_INHERIT_ADMIN=fd  K3LB_UPGRADE_READY=fd
 *   K3LB_INHERIT_ANNOUNCE=fd (the TUN interface the announced addresses sit on: while either
 *   process holds it, the interface and the announcement stay)
 * This file knows sockets by address only; what they belong to is the caller's business. */
#ifndef K3LB_COMMON_UPGRADE_H
#define K3LB_COMMON_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The sockets of one listen address: one per worker. */
struct upgrade_socket {
    const char *address; /* as written in the config: the successor finds them by it */
    const int *fds;
    size_t n_fds;
};

/* Old side: fork and exec the binary found at the path this one was started from (the new
 * one, after a package upgrade) with the sockets; *ready_fd gets the read end of the pipe the
 * successor writes "ready" to. Returns the pid, or -1 with errno set. */
pid_t upgrade_spawn(const struct upgrade_socket *socks, size_t n, int admin_fd, int announce_fd,
                    char *const argv[], int *ready_fd);

/* The K3LB_INHERIT_LISTEN text for socks (malloc'd). Exposed for tests. */
char *upgrade_describe(const struct upgrade_socket *socks, size_t n);

/* Called once at start: remembers the binary's path, and when started by an upgrade reads (and
 * removes) the variables. */
void upgrade_inherit(void);
/* Reads a K3LB_INHERIT_LISTEN text (upgrade_inherit does; exposed for tests). Entries that do
 * not parse are skipped. */
void upgrade_parse_listen(const char *spec);
/* An inherited socket for a listen address, for worker i, or -1. */
int upgrade_take_listen(const char *address, size_t i);
/* The inherited admin socket, or -1. */
int upgrade_take_admin(void);
/* The inherited announce interface, or -1. */
int upgrade_take_announce(void);
/* True when started by an upgrade. */
bool upgrade_inherited(void);
/* Tells the old process (and the service manager: MAINPID) that this one serves now; closes
 * inherited sockets nobody took. */
void upgrade_ready(void);
/* Forgets every inherited socket without closing it (tests). */
void upgrade_forget(void);

#endif
