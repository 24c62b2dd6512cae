/* k3lb serve and k3lb agent: the main loop around the runtime. Signals (TERM/INT graceful
 * stop, HUP reload, USR2 binary upgrade), the admin API and agent hooks, the service manager's
 * notifications and watchdog, privileges dropped after binding. */
#include "cmd/cli.h"

#include "admin/admin.h"
#include "agent/agent.h"
#include "announce/announce.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/upgrade.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_SIGNALS 4

struct serve {
    struct cli *cli; /* how it was started */
    struct event_base *base;
    struct runtime *rt;
    struct admin *admin;
    struct agent *agent;            /* agent mode only */
    struct announce *announce;      /* anycast addresses, when the config names any */
    struct event *stop_delay_timer; /* a stop waits out stop_delay here */
    bool stop_pending;              /* saying stopping for stop_delay, the stop comes next */
    struct config *cfg;             /* current snapshot */
    struct event *stop_timer;       /* polls open connections during the grace period */
    struct event *upgrade_ev;       /* waits for the successor of a binary upgrade */
    struct event *watchdog;         /* keep-alive to the service manager, or NULL */
    struct event *reload_ev;        /* activated by SIGHUP: a burst of them is one reload */
    struct event *sigs[N_SIGNALS];  /* TERM, INT, HUP, USR2 */
    pid_t upgrade_pid;              /* that successor, 0 when no upgrade runs */
    uint64_t stop_deadline;         /* monotonic ms */
    bool stopping;                  /* no new connections; open ones drain */
    bool handed_over;               /* a successor took (or is taking) the listening sockets */
    unsigned stop_signals;          /* TERM/INT received; the second one closes everything */
};

static void stop_poll(evutil_socket_t fd, short what, void *arg)
{
    struct serve *s = arg;
    uint64_t active = runtime_active(s->rt);
    (void)fd;
    (void)what;
    /* A successor that has not answered yet still needs this process: it tells it "ready",
     * and leaving would also remove the admin socket file the successor serves on. The wait
     * is bounded by the upgrade's own limit. */
    if (s->upgrade_ev)
        return;
    if ((active == 0 && !admin_busy(s->admin)) || clock_now_ms() >= s->stop_deadline) {
        if (active)
            log_warn("grace_expired", "closing %llu connection%s still open",
                     (unsigned long long)active, active == 1 ? "" : "s");
        event_base_loopbreak(s->base);
    }
}

/* No new connections from now; open ones may finish within the grace period. Runs once.
 * handed_over: the listening sockets are shared with a successor (an upgrade done or under
 * way); they must then be left as they are, since shutting them would shut the successor's. */
static void begin_stop(struct serve *s, bool handed_over, const char *why)
{
    struct timeval tick = {0, 100000};
    if (s->stopping)
        return;
    s->stopping = true;
    s->handed_over = handed_over;
    runtime_stop_accepting(s->rt, handed_over);
    if (!handed_over)
        notify_send("STOPPING=1"); /* after the listeners closed: new clients are refused now */
    log_info("stopping", "%s: no new connections; %llu open may finish within %llu ms", why,
             (unsigned long long)runtime_active(s->rt), (unsigned long long)s->cfg->grace_ms);
    s->stop_deadline = clock_now_ms() + s->cfg->grace_ms;
    s->stop_timer = event_new(s->base, -1, EV_PERSIST, stop_poll, s);
    event_add(s->stop_timer, &tick);
    stop_poll(-1, 0, s);
}

static void stop_delay_passed(evutil_socket_t fd, short what, void *arg)
{
    struct serve *s = arg;
    (void)fd;
    (void)what;
    begin_stop(s, false, "stop_delay passed");
}

/* /healthz says stopping from now, so keepalived moves a virtual IP, and announced addresses go:
 * the routers stop sending new connections here while this process still accepts the ones on
 * their way for stop_delay; then the stop proper. */
static void delay_stop(struct serve *s, const char *why)
{
    uint64_t ms = s->cfg->stop_delay_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    s->stop_pending = true;
    announce_withdraw(s->announce, why);
    log_info("stopping", "%s: health says stopping%s; accepting for %llu ms more", why,
             s->announce ? ", addresses withdrawn" : "", (unsigned long long)ms);
    s->stop_delay_timer = evtimer_new(s->base, stop_delay_passed, s);
    evtimer_add(s->stop_delay_timer, &tv);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    struct serve *s = arg;
    char why[64];
    (void)what;
    if (++s->stop_signals >= 2) {
        log_warn("stopping", "second signal: closing everything now");
        event_base_loopbreak(s->base);
        return;
    }
    if (s->stopping) { /* draining after an upgrade already: that is what was asked */
        log_info("stopping", "signal %d: already draining; a second signal closes everything",
                 (int)sig);
        return;
    }
    /* With a successor starting on the same sockets, stopping here must not touch them: the
     * successor serves on as soon as it is ready. */
    snprintf(why, sizeof(why), "signal %d%s", (int)sig,
             s->upgrade_pid ? " during an upgrade (the new process takes over)" : "");
    if ((s->announce || s->cfg->stop_delay_ms) && !s->upgrade_pid && !s->stop_pending) {
        delay_stop(s, why);
        return;
    }
    begin_stop(s, s->upgrade_pid != 0, why);
}

/* The successor of an upgrade answered (or not, within a minute). */
static void on_upgrade_answer(evutil_socket_t fd, short what, void *arg)
{
    struct serve *s = arg;
    char buf[16] = "";
    ssize_t n = (what & EV_READ) ? read(fd, buf, sizeof(buf) - 1) : -1;
    int status = 0;
    close(fd);
    event_free(s->upgrade_ev);
    s->upgrade_ev = NULL;
    if (n > 0 && strncmp(buf, "ready", 5) == 0) {
        log_info("upgrade", "pid %d serves now; this process finishes its connections",
                 (int)s->upgrade_pid);
        admin_handed_over(s->admin);
        begin_stop(s, true, "upgraded");
        return;
    }
    if (s->handed_over)
        log_error("upgrade_failed", "the new binary did not become ready while this process "
                                    "was stopping: nothing will accept new connections");
    if (waitpid(s->upgrade_pid, &status, WNOHANG) == 0) {
        kill(s->upgrade_pid, SIGKILL);
        waitpid(s->upgrade_pid, &status, 0);
    }
    log_error("upgrade_failed", "the new binary did not become ready (%s); still serving here",
              WIFEXITED(status) ? "it exited" : "killed");
    s->upgrade_pid = 0;
}

static void on_upgrade(evutil_socket_t sig, short what, void *arg)
{
    struct serve *s = arg;
    struct timeval limit = {60, 0};
    struct upgrade_socket *socks;
    size_t n_socks;
    int fd;
    (void)sig;
    (void)what;
    if (s->stopping || s->stop_pending || s->upgrade_pid) {
        log_warn("upgrade", "an upgrade or a stop is already under way");
        return;
    }
    socks = runtime_listen_sockets(s->rt, &n_socks);
    s->upgrade_pid =
        upgrade_spawn(socks, n_socks, admin_fd(s->admin), announce_fd(s->announce), cli_argv, &fd);
    free(socks);
    if (s->upgrade_pid < 0) {
        log_error("upgrade_failed", "cannot start the new binary: %s", strerror(errno));
        s->upgrade_pid = 0;
        return;
    }
    log_info("upgrade", "started pid %d with the listening sockets", (int)s->upgrade_pid);
    s->upgrade_ev = event_new(s->base, fd, EV_READ, on_upgrade_answer, s);
    event_add(s->upgrade_ev, &limit);
}

/* A reloaded config's addresses: announced now, or on a new interface when there was none. */
static void reannounce(struct serve *s)
{
    char err[512];
    if (s->announce) {
        announce_configure(s->announce, s->cfg);
    } else if (s->cfg->announce.n_addresses && !s->stop_pending && !s->stopping) {
        s->announce = announce_new(s->base, s->cfg, s->rt, err, sizeof(err));
        if (!s->announce)
            log_error("announce", "%s", err);
    }
}

/* Re-reads the config. On any error the current config keeps serving; err gets the errors,
 * one per line. */
static int reload(struct serve *s, char *err, size_t errlen)
{
    struct config_errors errs = {0};
    struct config *cfg;
    size_t used = 0;
    int rc = 0;

    if (!s->cli->path) {
        snprintf(err, errlen, "started without a config file: nothing to reload");
        log_warn("reload_skipped", "%s", err);
        return -1;
    }
    notify_reloading();
    cfg = cli_build(s->cli, &errs);
    cli_log_warnings(&errs);
    if (!cfg) {
        for (size_t i = 0; i < errs.n; i++) {
            log_error("reload_failed", "%s", errs.list[i].text);
            if (used < errlen)
                used += (size_t)snprintf(err + used, errlen - used, "%s\n", errs.list[i].text);
        }
        rc = -1;
    } else if (runtime_apply(s->rt, cfg, err, errlen) < 0) {
        log_error("reload_failed", "%s", err);
        config_unref(cfg);
        rc = -1;
    } else {
        config_unref(s->cfg);
        s->cfg = cfg;
        log_setup((enum log_level)cfg->log.level, (enum log_format)cfg->log.format);
        reannounce(s);
        log_info("reloaded", "config %s applied", cfg->source);
    }
    if (rc < 0)
        log_error("reload_failed", "keeping the current config");
    runtime_note_reload(s->rt, rc == 0);
    config_errors_free(&errs);
    notify_send("READY=1");
    return rc;
}

static void reload_now(evutil_socket_t fd, short what, void *arg)
{
    struct serve *s = arg;
    char err[4096];
    (void)fd;
    (void)what;
    if (!s->stopping)
        reload(s, err, sizeof(err));
}

/* libevent calls a signal's callback once per delivery: fifty SIGHUPs in a burst would be
 * fifty reloads in a row. Activating one event folds those caught together into one reload,
 * which reads the file as it is after the last of them. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    struct serve *s = arg;
    (void)sig;
    (void)what;
    event_active(s->reload_ev, EV_TIMEOUT, 1);
}

static int api_reload(void *arg, char *err, size_t errlen)
{
    struct serve *s = arg;
    if (s->stopping) {
        snprintf(err, errlen, "k3lb is stopping");
        return -1;
    }
    return reload(s, err, errlen);
}

static bool api_stopping(void *arg)
{
    const struct serve *s = arg;
    return s->stopping || s->stop_pending;
}

static void api_announce(void *arg, struct admin_announce *out)
{
    const struct serve *s = arg;
    announce_status(s->announce, out);
}

/* One socket per connection side: let k3lb use every descriptor the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Started as root with user: set, become that user once every socket is bound. */
static int drop_privileges(const char *user)
{
    struct passwd *pw;
    if (!user || geteuid() != 0)
        return 0;
    pw = getpwnam(user);
    if (!pw) {
        log_error("start_failed", "user '%s' does not exist", user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0) {
        log_error("start_failed", "cannot become user '%s': %s", user, strerror(errno));
        return -1;
    }
    log_info("privileges", "running as user %s (uid %u)", user, (unsigned)pw->pw_uid);
    return 0;
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    notify_send("WATCHDOG=1");
}

static int put_servers(void *arg, const char *const *addresses, size_t n, char *err, size_t errlen)
{
    struct serve *s = arg;
    return agent_put_servers(s->agent, addresses, n, err, errlen);
}

/* Everything that serves: balancer, agent, admin API; then the privileges go. */
static int start_parts(struct serve *s)
{
    char err[512];
    s->rt = runtime_new(s->base, s->cfg, err, sizeof(err));
    if (!s->rt) {
        log_error("start_failed", "%s", err);
        return -1;
    }
    if (s->cli->agent)
        s->agent = agent_new(s->base, s->rt, s->cfg);
    s->announce = announce_new(s->base, s->cfg, s->rt, err, sizeof(err));
    if (!s->announce && err[0]) {
        log_error("start_failed", "announce: %s", err);
        return -1;
    }
    if (config_admin_on(&s->cfg->admin)) {
        struct admin_hooks hooks = {.put_servers = s->agent ? put_servers : NULL,
                                    .reload = api_reload,
                                    .stopping = api_stopping,
                                    .announce = api_announce,
                                    .arg = s};
        s->admin = admin_new(s->base, &s->cfg->admin, s->rt, &hooks, err, sizeof(err));
        if (!s->admin && s->cfg->admin.obj.keys[0].file) {
            log_error("start_failed", "admin listener %s", err);
            return -1;
        }
        if (!s->admin) /* the default socket (/run/k3lb) may be out of reach for a user */
            log_warn("admin_unavailable", "default admin listener: %s; running without it", err);
    }
    notify_open();
    return drop_privileges(s->cfg->user);
}

/* Signals and the watchdog keep-alive. */
static void arm_events(struct serve *s)
{
    static const int signums[N_SIGNALS] = {SIGTERM, SIGINT, SIGHUP, SIGUSR2};
    const event_callback_fn handlers[N_SIGNALS] = {on_stop, on_stop, on_reload, on_upgrade};
    uint64_t wd = notify_watchdog_usec();
    if (wd) {
        struct timeval half = {.tv_sec = (time_t)(wd / 2000000),
                               .tv_usec = (suseconds_t)(wd / 2 % 1000000)};
        s->watchdog = event_new(s->base, -1, EV_PERSIST, watchdog_cb, NULL);
        event_add(s->watchdog, &half);
    }
    s->reload_ev = event_new(s->base, -1, 0, reload_now, s);
    for (int i = 0; i < N_SIGNALS; i++) {
        s->sigs[i] = evsignal_new(s->base, signums[i], handlers[i], s);
        event_add(s->sigs[i], NULL);
    }
}

/* The one place that frees what start_parts and arm_events made (all may be NULL). */
static void stop_parts(struct serve *s)
{
    admin_free(s->admin);
    announce_free(s->announce, s->handed_over);
    if (s->stop_delay_timer)
        event_free(s->stop_delay_timer);
    agent_free(s->agent);
    if (s->rt)
        runtime_free(s->rt);
    if (s->stop_timer)
        event_free(s->stop_timer);
    if (s->upgrade_ev)
        event_free(s->upgrade_ev);
    if (s->watchdog)
        event_free(s->watchdog);
    if (s->reload_ev)
        event_free(s->reload_ev);
    for (int i = 0; i < N_SIGNALS; i++)
        if (s->sigs[i])
            event_free(s->sigs[i]);
}

static int run(struct serve *s)
{
    int rc = 1;
    if (start_parts(s) < 0)
        goto out;
    arm_events(s);
    if (upgrade_inherited())
        upgrade_ready(); /* tells the old process and the service manager (MAINPID) */
    else
        notify_send("READY=1");
    log_info("ready", "accepting connections (config %s)", s->cfg->source);
    event_base_dispatch(s->base);
    log_info("stopped", "bye");
    rc = 0;
out:
    stop_parts(s);
    return rc;
}

int serve_main(struct cli *c, int argc, char **argv)
{
    struct serve s = {.cli = c};
    int rc = 0;

    s.cfg = cli_load(c, argc, argv, false, &rc);
    if (!s.cfg) {
        config_flags_free(c->vals, c->n_defs);
        return rc;
    }
    log_setup((enum log_level)s.cfg->log.level, (enum log_format)s.cfg->log.format);
    cli_log_warnings(&c->notes);
    config_errors_free(&c->notes);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    s.base = event_base_new();
    if (!s.base) {
        log_error("start_failed", "cannot create the event loop");
        config_unref(s.cfg);
        config_flags_free(c->vals, c->n_defs);
        return 1;
    }
    rc = run(&s);
    /* Bufferevents freed while a deferred callback was pending (a probe cut short by the
     * stop) are released when that callback runs: let it run once before the loop goes. */
    event_base_loop(s.base, EVLOOP_NONBLOCK);
    event_base_free(s.base);
    config_unref(s.cfg);
    config_flags_free(c->vals, c->n_defs);
    return rc;
}
