/* Socket handover for the binary upgrade; see upgrade.h. */
#include "common/upgrade.h"

#include "common/log.h"
#include "common/notify.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The sockets of one inherited listen address. */
struct inherited {
    char *address; /* listen address as written in the config */
    int *fds;      /* one per worker of the old process */
    bool *taken;   /* handed to a listener of this process */
    size_t n;
};

static struct inherited *inherit;
static size_t n_inherit;
static int admin_fd = -1;
static int announce_fd = -1; /* the announcing TUN interface, held by both while they run */
static char exe_path[4096]; /* the binary's path, read at start: the file an upgrade runs */
static int ready_fd = -1;
static bool upgraded;

char *upgrade_describe(const struct upgrade_socket *socks, size_t n)
{
    size_t len = 1, used = 0;
    char *buf;
    for (size_t i = 0; i < n; i++)
        len += strlen(socks[i].address) + 2 + socks[i].n_fds * 12; /* ";ADDR=" + ",fd" each */
    buf = xmalloc(len);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(buf + used, len - used, "%s%s=", i ? ";" : "", socks[i].address);
        for (size_t k = 0; k < socks[i].n_fds; k++)
            used += (size_t)snprintf(buf + used, len - used, "%s%d", k ? "," : "", socks[i].fds[k]);
    }
    return buf; /* len was counted for the longest numbers: nothing was cut */
}

/* Child side of the fork: keep the sockets and the pipe across exec, name them, become the new
 * binary. Only async-signal-safe work and setenv (the process has one thread here). */
static void exec_successor(const struct upgrade_socket *socks, size_t n, int admin, int announce,
                           const char *listen, int ready, char *const argv[])
{
    char num[16];
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < socks[i].n_fds; k++)
            fcntl(socks[i].fds[k], F_SETFD, 0);
    if (admin >= 0)
        fcntl(admin, F_SETFD, 0);
    if (announce >= 0)
        fcntl(announce, F_SETFD, 0);
    fcntl(ready, F_SETFD, 0);
    setenv("K3LB_INHERIT_LISTEN", listen, 1);
    snprintf(num, sizeof(num), "%d", admin);
    setenv("K3LB_INHERIT_ADMIN", num, 1);
    snprintf(num, sizeof(num), "%d", announce);
    setenv("K3LB_INHERIT_ANNOUNCE", num, 1);
    snprintf(num, sizeof(num), "%d", ready);
    setenv("K3LB_UPGRADE_READY", num, 1);
    /* The path, not /proc/self/exe: after a package upgrade that names the old, deleted file,
     * and the point is to run the new one. */
    execv(exe_path[0] ? exe_path : argv[0], argv);
    _exit(127);
}

pid_t upgrade_spawn(const struct upgrade_socket *socks, size_t n, int admin, int announce,
                    char *const argv[], int *ready)
{
    char *listen = upgrade_describe(socks, n);
    int pipefd[2];
    pid_t pid = -1;

    if (pipe2(pipefd, O_CLOEXEC) == 0) {
        pid = fork();
        if (pid == 0)
            exec_successor(socks, n, admin, announce, listen, pipefd[1], argv);
        close(pipefd[1]);
        if (pid < 0)
            close(pipefd[0]);
        else
            *ready = pipefd[0];
    }
    free(listen);
    return pid;
}

void upgrade_parse_listen(const char *spec)
{
    char *copy = xstrdup(spec), *save = NULL;
    for (char *e = strtok_r(copy, ";", &save); e; e = strtok_r(NULL, ";", &save)) {
        char *eq = strrchr(e, '='), *s2 = NULL;
        struct inherited *in;
        if (!eq || eq == e)
            continue;
        *eq = '\0';
        inherit = xreallocarray(inherit, n_inherit + 1, sizeof(*inherit));
        in = &inherit[n_inherit++];
        *in = (struct inherited){.address = xstrdup(e)};
        for (char *fd = strtok_r(eq + 1, ",", &s2); fd; fd = strtok_r(NULL, ",", &s2)) {
            char *end;
            long v = strtol(fd, &end, 10);
            if (*end || v < 0 || v > 1 << 30)
                continue;
            in->fds = xreallocarray(in->fds, in->n + 1, sizeof(*in->fds));
            in->taken = xreallocarray(in->taken, in->n + 1, sizeof(*in->taken));
            in->fds[in->n] = (int)v;
            in->taken[in->n++] = false;
        }
    }
    free(copy);
}

void upgrade_forget(void)
{
    for (size_t k = 0; k < n_inherit; k++) {
        free(inherit[k].address);
        free(inherit[k].fds);
        free(inherit[k].taken);
    }
    free(inherit);
    inherit = NULL;
    n_inherit = 0;
}

static void remember_exe(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
    exe_path[n > 0 ? n : 0] = '\0';
}

void upgrade_inherit(void)
{
    remember_exe();
    const char *l = getenv("K3LB_INHERIT_LISTEN"), *a = getenv("K3LB_INHERIT_ADMIN"),
               *r = getenv("K3LB_UPGRADE_READY"), *t = getenv("K3LB_INHERIT_ANNOUNCE");
    if (!l || !r)
        return;
    upgraded = true;
    upgrade_parse_listen(l);
    admin_fd = a ? atoi(a) : -1;
    announce_fd = t ? atoi(t) : -1;
    ready_fd = atoi(r);
    /* They must not reach a later upgrade's child or any other program. */
    for (size_t i = 0; i < n_inherit; i++)
        for (size_t k = 0; k < inherit[i].n; k++)
            fcntl(inherit[i].fds[k], F_SETFD, FD_CLOEXEC);
    if (admin_fd >= 0)
        fcntl(admin_fd, F_SETFD, FD_CLOEXEC);
    if (announce_fd >= 0)
        fcntl(announce_fd, F_SETFD, FD_CLOEXEC);
    fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
    unsetenv("K3LB_INHERIT_LISTEN");
    unsetenv("K3LB_INHERIT_ADMIN");
    unsetenv("K3LB_INHERIT_ANNOUNCE");
    unsetenv("K3LB_UPGRADE_READY");
}

bool upgrade_inherited(void)
{
    return upgraded;
}

int upgrade_take_listen(const char *address, size_t i)
{
    for (size_t k = 0; k < n_inherit; k++)
        if (strcmp(inherit[k].address, address) == 0 && i < inherit[k].n && !inherit[k].taken[i]) {
            inherit[k].taken[i] = true;
            return inherit[k].fds[i];
        }
    return -1;
}

int upgrade_take_admin(void)
{
    int fd = admin_fd;
    admin_fd = -1;
    return fd;
}

int upgrade_take_announce(void)
{
    int fd = announce_fd;
    announce_fd = -1;
    return fd;
}

void upgrade_ready(void)
{
    char msg[64];
    if (!upgraded)
        return;
    for (size_t k = 0; k < n_inherit; k++)
        for (size_t i = 0; i < inherit[k].n; i++)
            if (!inherit[k].taken[i])
                close(inherit[k].fds[i]); /* addresses the new config no longer has */
    upgrade_forget();
    if (admin_fd >= 0)
        close(admin_fd);
    admin_fd = -1;
    if (announce_fd >= 0)
        close(announce_fd);
    announce_fd = -1;
    snprintf(msg, sizeof(msg), "MAINPID=%d\nREADY=1", (int)getpid());
    notify_send(msg);
    if (ready_fd >= 0) {
        if (write(ready_fd, "ready\n", 6) != 6)
            log_warn("upgrade", "could not tell the old process: %s", strerror(errno));
        close(ready_fd);
        ready_fd = -1;
    }
    upgraded = false;
}
