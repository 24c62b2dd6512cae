/* Service-manager notification over a unix datagram socket. */
#include "common/notify.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <poll.h>
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

/* A receiver that stops reading fills its queue (net.unix.max_dgram_qlen datagrams, 10 by
 * default), and a blocking send would then stop k3lb's main loop, and signals and the admin
 * API with it. A service manager reads at once, so the wait is short and bounded;
 * past it the message is dropped. */
#define NOTIFY_WAIT_MS 1000

bool notify_send(const char *state)
{
    int fd = notify_socket();
    size_t len = strlen(state);
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int waited = 0;

    if (fd < 0)
        return false;
    for (;;) {
        ssize_t n = send(fd, state, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == (ssize_t)len)
            return true;
        if (n >= 0 || (errno != EAGAIN && errno != EINTR) || waited >= NOTIFY_WAIT_MS) {
            log_warn("notify_failed", "service manager socket: %s; \"%.*s\" not sent",
                     n >= 0   ? "short send"
                     : waited ? "its queue stayed full"
                              : strerror(errno),
                     (int)strcspn(state, "\n"), state);
            return false;
        }
        if (errno == EAGAIN) {
            poll(&pfd, 1, 100);
            waited += 100;
        }
    }
}

bool notify_reloading(void)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)clock_now_us());
    return notify_send(msg);
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
