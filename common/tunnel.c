/* HTTP CONNECT tunnels: the request, and the answer read with MSG_PEEK so that only the
 * answer's own bytes are consumed. */
#include "common/tunnel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int tunnel_send(int fd, const char *target, const char *authorization)
{
    char req[1024];
    int n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", target,
                     target, authorization ? "Proxy-Authorization: " : "",
                     authorization ? authorization : "", authorization ? "\r\n" : "");
    ssize_t sent;
    if (n < 0 || (size_t)n >= sizeof(req))
        return ENAMETOOLONG;
    sent = send(fd, req, (size_t)n, MSG_NOSIGNAL);
    if (sent < 0)
        return errno;
    return sent == n ? 0 : EAGAIN;
}

/* "HTTP/1.x SSS reason": the status, or -1. */
static int status_of(const char *line, const char **reason)
{
    if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++)
        if (line[i] < '0' || line[i] > '9')
            return -1;
    if (line[12] != ' ' && line[12] != '\r')
        return -1;
    *reason = line[12] == ' ' ? line + 13 : "";
    return atoi(line + 9);
}

int tunnel_recv(int fd, char *why, size_t whylen)
{
    char buf[TUNNEL_REPLY_MAX + 1], *end;
    const char *reason;
    ssize_t n = recv(fd, buf, TUNNEL_REPLY_MAX, MSG_PEEK);
    int status;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n < 0) {
        snprintf(why, whylen, "proxy: %s", strerror(errno));
        return -1;
    }
    if (n == 0) {
        snprintf(why, whylen, "proxy: closed without answering CONNECT");
        return -1;
    }
    buf[n] = '\0';
    end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
    if (!end) {
        if (n < TUNNEL_REPLY_MAX)
            return 0;
        snprintf(why, whylen, "proxy: answer to CONNECT longer than %d bytes", TUNNEL_REPLY_MAX);
        return -1;
    }
    if (recv(fd, buf, (size_t)(end + 4 - buf), 0) != end + 4 - buf) {
        snprintf(why, whylen, "proxy: answer lost while read");
        return -1;
    }
    *end = '\0';
    status = status_of(buf, &reason);
    if (status == 200)
        return 1;
    if (status < 0) {
        snprintf(why, whylen, "proxy: not an HTTP answer to CONNECT");
    } else {
        size_t r = strcspn(reason, "\r\n");
        snprintf(why, whylen, "proxy answered CONNECT with %d %.*s", status, (int)(r > 80 ? 80 : r),
                 reason);
    }
    return -1;
}
