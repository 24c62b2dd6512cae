/* Service-manager notification over a unix datagram socket. */
#include "common/notify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Connected once, at the first message: after dropping privileges k3lb may no longer be
 * allowed to open the socket's path, but a connected socket keeps working. */
static int notify_fd = -1;

static int notify_socket(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    socklen_t len;

    if (notify_fd >= 0)
        return notify_fd;
    if (!path || !*path || (path[0] != '/' && path[0] != '@') ||
        strlen(path) >= sizeof(sun.sun_path))
        return -1;
    memcpy(sun.sun_path, path, strlen(path));
    if (path[0] == '@')
        sun.sun_path[0] = '\0'; /* abstract namespace */
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (notify_fd >= 0 && connect(notify_fd, (struct sockaddr *)&sun, len) < 0) {
        close(notify_fd);
        notify_fd = -1;
    }
    return notify_fd;
}

void notify_open(void)
{
    notify_socket();
}

bool notify_send(const char *state)
{
    int fd = notify_socket();
    return fd >= 0 && send(fd, state, strlen(state), MSG_NOSIGNAL) == (ssize_t)strlen(state);
}

uint64_t notify_watchdog_usec(void)
{
    const char *v = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (!v)
        return 0;
    if (pid && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    return strtoull(v, NULL, 10);
}
