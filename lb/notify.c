/* Service-manager notification over a unix datagram socket. */
#include "notify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

bool lb_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    socklen_t len;
    ssize_t n;
    int fd;

    if (!path || !*path || (path[0] != '/' && path[0] != '@') ||
        strlen(path) >= sizeof(sun.sun_path))
        return false;
    memcpy(sun.sun_path, path, strlen(path));
    if (path[0] == '@')
        sun.sun_path[0] = '\0'; /* abstract namespace */
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
    close(fd);
    return n == (ssize_t)strlen(state);
}

uint64_t lb_notify_watchdog_usec(void)
{
    const char *v = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (!v)
        return 0;
    if (pid && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    return strtoull(v, NULL, 10);
}
