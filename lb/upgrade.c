/* Socket handover for the binary upgrade; see upgrade.h. */
#include "upgrade.h"

#include "lb/log.h"
#include "notify.h"
#include "runtime.h"
#include "view.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_INHERIT 256

struct inherited {
    char address[256]; /* listen address as written in the config */
    int fds[64];       /* one per worker of the old process */
    size_t n;
    bool taken[64];
};

static struct inherited inherit[MAX_INHERIT];
static size_t n_inherit;
static int admin_fd = -1;
static char exe_path[4096]; /* the binary's path, read at start: the file an upgrade runs */
static int ready_fd = -1;
static bool upgraded;

/* "ADDR=fd,fd;ADDR=fd" for every listening socket of the current view. */
static size_t describe(const struct lb_runtime *rt, char *buf, size_t len, int *fds, size_t *n_fds,
                       size_t max_fds)
{
    const struct lb_view *v = lb_runtime_view(rt);
    size_t used = 0;
    *n_fds = 0;
    for (size_t f = 0; f < v->n_fronts; f++)
        for (size_t j = 0; j < v->fronts[f].n_listen; j++) {
            const struct lb_listen *l = v->fronts[f].listen[j];
            used +=
                (size_t)snprintf(buf + used, len - used, "%s%s=", used ? ";" : "", l->addr.text);
            for (size_t k = 0; k < l->n_fds && used < len && *n_fds < max_fds; k++) {
                used += (size_t)snprintf(buf + used, len - used, "%s%d", k ? "," : "", l->fds[k]);
                fds[(*n_fds)++] = l->fds[k];
            }
        }
    return used;
}

pid_t lb_upgrade_spawn(const struct lb_runtime *rt, int admin, char *const argv[], int *ready)
{
    char listen[16384], num[16];
    int fds[1024], pipefd[2];
    size_t n_fds;
    pid_t pid;

    if (describe(rt, listen, sizeof(listen), fds, &n_fds, 1024) >= sizeof(listen) ||
        pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        /* Child: keep the sockets and the pipe across exec, name them, become the new binary. */
        for (size_t i = 0; i < n_fds; i++)
            fcntl(fds[i], F_SETFD, 0);
        if (admin >= 0)
            fcntl(admin, F_SETFD, 0);
        fcntl(pipefd[1], F_SETFD, 0);
        setenv("K3LB_INHERIT_LISTEN", listen, 1);
        snprintf(num, sizeof(num), "%d", admin);
        setenv("K3LB_INHERIT_ADMIN", num, 1);
        snprintf(num, sizeof(num), "%d", pipefd[1]);
        setenv("K3LB_UPGRADE_READY", num, 1);
        /* The path, not /proc/self/exe: after a package upgrade that names the old, deleted
         * file, and the point is to run the new one. */
        execv(exe_path[0] ? exe_path : argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    *ready = pipefd[0];
    return pid;
}

static void parse_listen(const char *spec)
{
    char *copy = strdup(spec), *save = NULL;
    if (!copy)
        abort();
    for (char *e = strtok_r(copy, ";", &save); e && n_inherit < MAX_INHERIT;
         e = strtok_r(NULL, ";", &save)) {
        char *eq = strrchr(e, '='), *s2 = NULL;
        struct inherited *in = &inherit[n_inherit];
        if (!eq)
            continue;
        *eq = '\0';
        snprintf(in->address, sizeof(in->address), "%s", e);
        for (char *fd = strtok_r(eq + 1, ",", &s2); fd && in->n < 64; fd = strtok_r(NULL, ",", &s2))
            in->fds[in->n++] = atoi(fd);
        n_inherit++;
    }
    free(copy);
}

static void remember_exe(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
    exe_path[n > 0 ? n : 0] = '\0';
}

void lb_upgrade_inherit(void)
{
    remember_exe();
    const char *l = getenv("K3LB_INHERIT_LISTEN"), *a = getenv("K3LB_INHERIT_ADMIN"),
               *r = getenv("K3LB_UPGRADE_READY");
    if (!l || !r)
        return;
    upgraded = true;
    parse_listen(l);
    admin_fd = a ? atoi(a) : -1;
    ready_fd = atoi(r);
    /* They must not reach a later upgrade's child or any other program. */
    for (size_t i = 0; i < n_inherit; i++)
        for (size_t k = 0; k < inherit[i].n; k++)
            fcntl(inherit[i].fds[k], F_SETFD, FD_CLOEXEC);
    if (admin_fd >= 0)
        fcntl(admin_fd, F_SETFD, FD_CLOEXEC);
    fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
    unsetenv("K3LB_INHERIT_LISTEN");
    unsetenv("K3LB_INHERIT_ADMIN");
    unsetenv("K3LB_UPGRADE_READY");
}

bool lb_upgrade_inherited(void)
{
    return upgraded;
}

int lb_upgrade_take_listen(const char *address, size_t i)
{
    for (size_t k = 0; k < n_inherit; k++)
        if (strcmp(inherit[k].address, address) == 0 && i < inherit[k].n && !inherit[k].taken[i]) {
            inherit[k].taken[i] = true;
            return inherit[k].fds[i];
        }
    return -1;
}

int lb_upgrade_take_admin(void)
{
    int fd = admin_fd;
    admin_fd = -1;
    return fd;
}

void lb_upgrade_ready(void)
{
    char msg[64];
    if (!upgraded)
        return;
    for (size_t k = 0; k < n_inherit; k++)
        for (size_t i = 0; i < inherit[k].n; i++)
            if (!inherit[k].taken[i])
                close(inherit[k].fds[i]); /* addresses the new config no longer has */
    if (admin_fd >= 0)
        close(admin_fd);
    admin_fd = -1;
    snprintf(msg, sizeof(msg), "MAINPID=%d\nREADY=1", (int)getpid());
    lb_notify(msg);
    if (ready_fd >= 0) {
        if (write(ready_fd, "ready\n", 6) != 6)
            log_warn("upgrade", "could not tell the old process: %s", strerror(errno));
        close(ready_fd);
        ready_fd = -1;
    }
    upgraded = false;
}
