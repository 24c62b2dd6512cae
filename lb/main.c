/* k3lb command line: serve, check, version, help. Parses flags, builds the config snapshot,
 * and for serve runs the main loop (signals, admin API, graceful stop, reload). */
#include "admin/admin.h"
#include "config/config.h"
#include "config/flags.h"
#include "lb/log.h"
#include "lb/notify.h"
#include "lb/runtime.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define EXIT_USAGE 2

/* The one-liner's skeleton: flags fill in listen addresses and servers. */
static const char one_liner_yaml[] = "frontends: [{name: main, backend: main}]\n"
                                     "backends: [{name: main}]\n";

static const struct config_flag serve_flags[] = {
    {"config", 'c', CONFIG_FLAG_VALUE, NULL, NULL, "FILE", "YAML config file"},
    {"listen", 0, CONFIG_FLAG_LIST, "frontends.0.listen", NULL, "ADDR",
     "address to accept on (one-liner)"},
    {"server", 0, CONFIG_FLAG_LIST, "backends.0.servers", NULL, "ADDR",
     "server to forward to (one-liner)"},
    {"balance", 0, CONFIG_FLAG_VALUE, "backends.0.balance", NULL, "ALG",
     "roundrobin, leastconn, random, source or first"},
    {"connect-timeout", 0, CONFIG_FLAG_VALUE, "backends.0.connect_timeout", NULL, "DUR",
     "connect timeout, e.g. 3s"},
    {"check-kind", 0, CONFIG_FLAG_VALUE, "backends.0.health.kind", NULL, "KIND",
     "health check kind (tcp, none)"},
    {"check-interval", 0, CONFIG_FLAG_VALUE, "backends.0.health.interval", NULL, "DUR",
     "time between health checks"},
    {"check-timeout", 0, CONFIG_FLAG_VALUE, "backends.0.health.timeout", NULL, "DUR",
     "health check timeout"},
    {"rise", 0, CONFIG_FLAG_VALUE, "backends.0.health.rise", NULL, "N", "passed checks to come up"},
    {"fall", 0, CONFIG_FLAG_VALUE, "backends.0.health.fall", NULL, "N", "failures to go down"},
    {"admin", 0, CONFIG_FLAG_VALUE, "admin.listen", NULL, "ADDR",
     "admin API address (host:port, unix:/path, off)"},
    {"workers", 0, CONFIG_FLAG_VALUE, "workers", NULL, "N", "worker threads (0 = CPUs)"},
    {"log-level", 0, CONFIG_FLAG_VALUE, "log.level", NULL, "LEVEL", "debug, info, warn or error"},
    {"log-format", 0, CONFIG_FLAG_VALUE, "log.format", NULL, "FMT", "text or json"},
    {"help", 'h', CONFIG_FLAG_SWITCH, NULL, NULL, NULL, "show this help"},
};
#define N_SERVE_FLAGS (sizeof(serve_flags) / sizeof(serve_flags[0]))

static const struct config_flag check_flags[] = {
    {"config", 'c', CONFIG_FLAG_VALUE, NULL, NULL, "FILE", "YAML config file to validate"},
    {"help", 'h', CONFIG_FLAG_SWITCH, NULL, NULL, NULL, "show this help"},
};
#define N_CHECK_FLAGS (sizeof(check_flags) / sizeof(check_flags[0]))

static void usage(FILE *out)
{
    fprintf(out,
            "k3lb %s - layer-4 load balancer for a fixed K3s registration address\n\n"
            "usage:\n"
            "  k3lb serve -c FILE                      run from a config file\n"
            "  k3lb serve --listen ADDR --server ADDR... run without a file\n"
            "  k3lb check -c FILE                      validate a config file\n"
            "  k3lb version                            print the version\n\n"
            "'k3lb COMMAND --help' shows a command's flags. Every flag --NAME can also be\n"
            "set as the environment variable K3LB_NAME.\n",
            K3LB_VERSION);
}

static int usage_error(const char *cmd, const char *msg)
{
    fprintf(stderr, "k3lb %s: %s (try 'k3lb %s --help')\n", cmd, msg, cmd);
    return EXIT_USAGE;
}

/* Parses flags and builds the snapshot. Returns NULL and sets *rc (1 config, 2 usage, 0 help). */
static struct config *load(const char *cmd, const struct config_flag *defs, size_t n_defs, int argc,
                           char **argv, bool file_required, int *rc)
{
    struct config_flag_value vals[16] = {0};
    struct config_override ov[16];
    struct config_errors errs = {0};
    struct config *cfg = NULL;
    const char *pos[1], *path, *listen;
    size_t n_pos = 0, n_ov;
    char err[256];

    if (!config_flags_parse(defs, n_defs, argc, argv, vals, pos, &n_pos, 0, err, sizeof(err))) {
        *rc = usage_error(cmd, err);
        goto out;
    }
    if (config_flag_get(defs, n_defs, vals, "help")) {
        printf("usage: k3lb %s [flags]\n\nflags:\n", cmd);
        config_flags_usage(defs, n_defs, stdout);
        *rc = 0;
        goto out;
    }
    path = config_flag_get(defs, n_defs, vals, "config");
    listen = config_flag_get(defs, n_defs, vals, "listen");
    if (!path && (file_required || !listen)) {
        *rc = usage_error(cmd, file_required ? "needs -c FILE"
                                             : "needs -c FILE, or --listen and --server");
        goto out;
    }
    n_ov = config_flags_overrides(defs, n_defs, vals, ov);
    cfg = config_build(path, path ? NULL : one_liner_yaml, ov, n_ov, &errs);
    if (!cfg) {
        config_errors_print(&errs, stderr);
        *rc = 1;
    }
out:
    config_errors_free(&errs);
    config_flags_free(vals, n_defs);
    return cfg;
}

static int cmd_check(int argc, char **argv)
{
    int rc = 0;
    struct config *cfg = load("check", check_flags, N_CHECK_FLAGS, argc, argv, true, &rc);
    if (!cfg)
        return rc;
    printf("%s: ok (%zu frontend%s, %zu backend%s)\n", cfg->source, cfg->n_frontends,
           cfg->n_frontends == 1 ? "" : "s", cfg->n_backends, cfg->n_backends == 1 ? "" : "s");
    config_unref(cfg);
    return 0;
}

/* ---- serve ---------------------------------------------------------------------------------- */

struct serve {
    struct event_base *base;
    struct lb_runtime *rt;
    struct admin *admin;
    struct config *cfg;       /* current snapshot */
    struct event *stop_timer; /* polls open connections during the grace period */
    uint64_t stop_deadline;   /* monotonic ms */
    bool stopping;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void stop_poll(evutil_socket_t fd, short what, void *arg)
{
    struct serve *s = arg;
    uint64_t active = lb_runtime_active(s->rt);
    (void)fd;
    (void)what;
    if (active == 0 || mono_ms() >= s->stop_deadline) {
        if (active)
            log_warn("grace_expired", "closing %llu connection%s still open",
                     (unsigned long long)active, active == 1 ? "" : "s");
        event_base_loopbreak(s->base);
    }
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    struct serve *s = arg;
    struct timeval tick = {0, 100000};
    (void)what;
    if (s->stopping) {
        log_warn("stopping", "second signal: closing everything now");
        event_base_loopbreak(s->base);
        return;
    }
    s->stopping = true;
    lb_runtime_stop_accepting(s->rt);
    lb_notify("STOPPING=1"); /* after the listeners closed: new clients are refused from now */
    log_info("stopping", "signal %d: no new connections; %llu open may finish within %llu ms",
             (int)sig, (unsigned long long)lb_runtime_active(s->rt),
             (unsigned long long)s->cfg->grace_ms);
    s->stop_deadline = mono_ms() + s->cfg->grace_ms;
    s->stop_timer = event_new(s->base, -1, EV_PERSIST, stop_poll, s);
    event_add(s->stop_timer, &tick);
    stop_poll(-1, 0, s);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    struct serve *s = arg;
    struct config_errors errs = {0};
    struct config *cfg;
    char err[512];
    (void)sig;
    (void)what;

    if (s->stopping)
        return;
    if (strcmp(s->cfg->source, "command line") == 0) {
        log_warn("reload_skipped", "started without a config file: nothing to reload");
        return;
    }
    lb_notify("RELOADING=1");
    cfg = config_build(s->cfg->source, NULL, NULL, 0, &errs);
    if (!cfg) {
        for (size_t i = 0; i < errs.n; i++)
            log_error("reload_failed", "%s", errs.list[i].text);
        log_error("reload_failed", "keeping the current config");
    } else if (lb_runtime_apply(s->rt, cfg, err, sizeof(err)) < 0) {
        log_error("reload_failed", "%s; keeping the current config", err);
        config_unref(cfg);
    } else {
        config_unref(s->cfg);
        s->cfg = cfg;
        log_setup((enum log_level)cfg->log.level, (enum log_format)cfg->log.format);
        log_info("reloaded", "config %s applied", cfg->source);
    }
    config_errors_free(&errs);
    lb_notify("READY=1");
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

static int run(struct serve *s)
{
    struct event *sigs[4];
    const int signums[4] = {SIGTERM, SIGINT, SIGHUP, 0};
    char err[512];
    int rc = 0, n = 0;

    s->rt = lb_runtime_new(s->base, s->cfg, err, sizeof(err));
    if (!s->rt) {
        log_error("start_failed", "%s", err);
        return 1;
    }
    if (s->cfg->admin.listen.text && strcmp(s->cfg->admin.listen.text, "off") != 0) {
        s->admin = admin_new(s->base, &s->cfg->admin.listen, s->rt, err, sizeof(err));
        if (!s->admin) {
            log_error("start_failed", "admin listener %s", err);
            lb_runtime_free(s->rt);
            return 1;
        }
    }
    for (; signums[n]; n++) {
        sigs[n] = evsignal_new(s->base, signums[n], signums[n] == SIGHUP ? on_reload : on_stop, s);
        event_add(sigs[n], NULL);
    }
    lb_notify("READY=1");
    log_info("ready", "accepting connections (config %s)", s->cfg->source);
    event_base_dispatch(s->base);
    lb_runtime_free(s->rt);
    admin_free(s->admin);
    if (s->stop_timer)
        event_free(s->stop_timer);
    while (n--)
        event_free(sigs[n]);
    log_info("stopped", "bye");
    return rc;
}

static int cmd_serve(int argc, char **argv)
{
    struct serve s = {0};
    int rc = 0;

    s.cfg = load("serve", serve_flags, N_SERVE_FLAGS, argc, argv, false, &rc);
    if (!s.cfg)
        return rc;
    log_setup((enum log_level)s.cfg->log.level, (enum log_format)s.cfg->log.format);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    s.base = event_base_new();
    if (!s.base) {
        log_error("start_failed", "cannot create the event loop");
        config_unref(s.cfg);
        return 1;
    }
    rc = run(&s);
    event_base_free(s.base);
    config_unref(s.cfg);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (!cmd) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("k3lb %s\n", K3LB_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "k3lb: unknown command '%s' (try 'k3lb --help')\n", cmd);
    return EXIT_USAGE;
}
