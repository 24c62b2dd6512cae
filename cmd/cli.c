/* Flag tables of serve, agent and check, and the one path from flags and a file to a config
 * snapshot (reloads take it again). */
#include "cmd/cli.h"

#include "common/log.h"
#include "health/health.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

char **cli_argv;

/* The one-liner's skeleton: flags fill in listen addresses and servers. */
static const char one_liner_yaml[] = "frontends: [{name: main, backend: main}]\n"
                                     "backends: [{name: main}]\n";

/* Rows every long-running command has. PATH is where its backend's health block lives. */
#define CHECK_FLAGS(PATH)                                                                          \
    {"check-interval",                                                                             \
     0,                                                                                            \
     CONFIG_FLAG_VALUE,                                                                            \
     PATH ".interval",                                                                             \
     NULL,                                                                                         \
     "DUR",                                                                                        \
     "time between health checks"},                                                                \
        {"check-timeout",       0, CONFIG_FLAG_VALUE, PATH ".timeout", NULL, "DUR",                \
         "health check timeout"},                                                                  \
        {"rise", 0, CONFIG_FLAG_VALUE, PATH ".rise", NULL, "N", "passed checks to come up"},       \
    {                                                                                              \
        "fall", 0, CONFIG_FLAG_VALUE, PATH ".fall", NULL, "N", "failures to go down"               \
    }
#define PROCESS_FLAGS                                                                              \
    {"workers", 0, CONFIG_FLAG_VALUE, "workers", NULL, "N", "worker threads (0 = CPUs)"},          \
        {"log-level", 0, CONFIG_FLAG_VALUE, "log.level", NULL, "LEVEL", "least severity logged"},  \
        {"log-format", 0, CONFIG_FLAG_VALUE, "log.format", NULL, "FMT", "log line format"},        \
    {                                                                                              \
        "help", 'h', CONFIG_FLAG_SWITCH, NULL, NULL, NULL, "show this help"                        \
    }

const struct config_flag cli_serve_flags[] = {
    {"config", 'c', CONFIG_FLAG_VALUE, NULL, NULL, "FILE", "YAML config file"},
    {"listen", 0, CONFIG_FLAG_LIST, "frontends.0.listen", NULL, "ADDR",
     "address to accept on (one-liner)"},
    {"server", 0, CONFIG_FLAG_LIST, "backends.0.servers", NULL, "ADDR",
     "server to forward to (one-liner)"},
    {"balance", 0, CONFIG_FLAG_VALUE, "backends.0.balance", NULL, "ALG", "how a server is picked"},
    {"connect-timeout", 0, CONFIG_FLAG_VALUE, "backends.0.connect_timeout", NULL, "DUR",
     "connect timeout, e.g. 3s"},
    {"check-kind", 0, CONFIG_FLAG_VALUE, "backends.0.health.kind", NULL, "KIND",
     "health check kind"},
    CHECK_FLAGS("backends.0.health"),
    {"admin", 0, CONFIG_FLAG_VALUE, "admin.listen", NULL, "ADDR",
     "admin API: unix:/path, host:port or off (default unix:/run/k3lb/admin.sock)"},
    PROCESS_FLAGS,
};
const size_t cli_n_serve_flags = sizeof(cli_serve_flags) / sizeof(cli_serve_flags[0]);

const struct config_flag cli_agent_flags[] = {
    {"config", 'c', CONFIG_FLAG_VALUE, NULL, NULL, "FILE", "YAML config file (agent: section)"},
    {"server", 0, CONFIG_FLAG_VALUE, "agent.server", "K3S_URL", "URL",
     "the fixed registration address, https://host:6443", "K3LB_AGENT_SERVER"},
    {"listen", 0, CONFIG_FLAG_LIST, "agent.listen", NULL, "ADDR",
     "local listener (default 127.0.0.1 and [::1] on the --server URL's port)"},
    {"apiserver-port", 0, CONFIG_FLAG_VALUE, "agent.apiserver_port", NULL, "PORT",
     "the servers' API port when the supervisor has its own (RKE2: 6443 beside 9345)"},
    {"apiserver-listen", 0, CONFIG_FLAG_LIST, "agent.apiserver_listen", NULL, "ADDR",
     "listener for the API servers (default: each --listen host on --apiserver-port)"},
    {"etcd-listen", 0, CONFIG_FLAG_VALUE, "agent.etcd_listen", NULL, "ADDR",
     "also balance etcd (members from /db/info, else servers' hosts on 2379) here"},
    {"etcd-refresh", 0, CONFIG_FLAG_VALUE, "agent.etcd_refresh", NULL, "DUR",
     "how often the etcd members are asked (default 30s)"},
    {"token", 0, CONFIG_FLAG_VALUE, NULL, "K3S_TOKEN", "TOKEN", "K3s token (prefer the env var)",
     "K3LB_AGENT_TOKEN"},
    {"token-file", 0, CONFIG_FLAG_VALUE, "agent.token_file", "K3S_TOKEN_FILE", "FILE",
     "file holding the K3s token", "K3LB_AGENT_TOKEN_FILE"},
    {"state-file", 0, CONFIG_FLAG_VALUE, "agent.state_file", NULL, "PATH",
     "learned server list (default /var/lib/k3lb/agent-load-balancer.json)"},
    {"servers-from", 0, CONFIG_FLAG_LIST, "agent.servers_from", NULL, "SRC",
     "k3s, dns or static:ADDR,ADDR (default k3s with a token)"},
    {"resolver", 0, CONFIG_FLAG_VALUE, "resolver", NULL, "ADDR",
     "DNS server for --servers-from dns (default: the system's)"},
    {"refresh", 0, CONFIG_FLAG_VALUE, "agent.refresh", NULL, "DUR",
     "how often the server list is refreshed (default 5s)"},
    {"program", 0, CONFIG_FLAG_VALUE, "agent.program", NULL, "NAME",
     "whose servers: k3s (default) or rke2 (routes /v1-rke2/...)"},
    {"dial-timeout", 0, CONFIG_FLAG_VALUE, "agent.dial_timeout", NULL, "DUR",
     "connect timeout per server (default 2s)"},
    {"check-kind", 0, CONFIG_FLAG_VALUE, "agent.health.kind", NULL, "KIND",
     "health check kind (default k3s, every 10 s, fall 2)"},
    CHECK_FLAGS("agent.health"),
    {"admin", 0, CONFIG_FLAG_VALUE, "admin.listen", NULL, "ADDR",
     "status API (host:port or unix:/path; default off)"},
    PROCESS_FLAGS,
};
const size_t cli_n_agent_flags = sizeof(cli_agent_flags) / sizeof(cli_agent_flags[0]);

const struct config_flag cli_check_flags[] = {
    {"config", 'c', CONFIG_FLAG_VALUE, NULL, NULL, "FILE", "YAML config file to validate"},
    {"strict", 0, CONFIG_FLAG_SWITCH, NULL, NULL, NULL,
     "as serve would start here: a named file or secret that cannot be read is an error"},
    {"help", 'h', CONFIG_FLAG_SWITCH, NULL, NULL, NULL, "show this help"},
};
const size_t cli_n_check_flags = sizeof(cli_check_flags) / sizeof(cli_check_flags[0]);

void cli_log_warnings(const struct config_errors *errs)
{
    for (size_t i = 0; i < errs->n_warnings; i++)
        log_warn("config_warning", "%s", errs->warnings[i].text);
    if (errs->more_warnings)
        log_warn("config_warning", "... and %zu more warnings", errs->more_warnings);
}

int cli_usage_error(const char *cmd, const char *msg)
{
    fprintf(stderr, "k3lb %s: %s (try 'k3lb %s --help')\n", cmd, msg, cmd);
    return CLI_EXIT_USAGE;
}

struct config *cli_build(const struct cli *c, struct config_errors *errs)
{
    struct config_agent_defaults d = {c->agent_listen, c->n_agent_listen};
    struct config *cfg =
        c->agent ? config_build_agent(c->path, c->ov, c->n_ov, &d, errs)
                 : config_build(c->path, c->path ? NULL : one_liner_yaml, c->ov, c->n_ov, errs);
    if (cfg)
        health_config_advice(cfg, errs);
    return cfg;
}

/* An IPv6 loopback the agent can listen on too. */
static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* The agent's --token (or K3S_TOKEN) reaches its checks and sources through a variable of its
 * own, so the secret never sits in the config. */
static void agent_token(struct cli *c)
{
    static const char *const name[] = {"K3LB_AGENT_TOKEN"};
    const char *token = config_flag_get(c->defs, c->n_defs, c->vals, "token");
    if (!token)
        return;
    setenv("K3LB_AGENT_TOKEN", token, 1);
    c->ov[c->n_ov++] = (struct config_override){
        .path = "agent.token_env",
        .values = name,
        .n_values = 1,
        .origin = "--token",
    };
}

struct config *cli_load(struct cli *c, int argc, char **argv, bool file_required, int *rc)
{
    struct config_errors errs = {0};
    struct config *cfg = NULL;
    const char *pos[1];
    size_t n_pos = 0;
    char err[256];

    if (!config_flags_parse(c->defs, c->n_defs, argc, argv, c->vals, pos, &n_pos, 0, err,
                            sizeof(err))) {
        *rc = cli_usage_error(c->cmd, err);
        return NULL;
    }
    if (config_flag_get(c->defs, c->n_defs, c->vals, "help")) {
        printf("usage: k3lb %s [flags]\n\nflags:\n", c->cmd);
        config_flags_usage(c->defs, c->n_defs, stdout);
        *rc = 0;
        return NULL;
    }
    c->path = config_flag_get(c->defs, c->n_defs, c->vals, "config");
    if (!c->path && !c->agent &&
        (file_required || !config_flag_get(c->defs, c->n_defs, c->vals, "listen"))) {
        *rc = cli_usage_error(c->cmd, file_required ? "needs -c FILE"
                                                    : "needs -c FILE, or --listen and --server");
        return NULL;
    }
    if (!c->path && !config_flag_get(c->defs, c->n_defs, c->vals, "server")) {
        *rc = cli_usage_error(c->cmd, c->agent ? "needs --server URL (or K3S_URL): the fixed "
                                                 "registration address, e.g. "
                                                 "https://k3s.example:6443"
                                               : "needs --server ADDR (one or more) with --listen");
        return NULL;
    }
    c->n_ov = config_flags_overrides(c->defs, c->n_defs, c->vals, c->ov);
    if (c->agent) {
        agent_token(c);
        c->agent_listen[c->n_agent_listen++] = "127.0.0.1";
        if (have_ipv6_loopback())
            c->agent_listen[c->n_agent_listen++] = "[::1]";
    }
    errs.lenient_secrets = c->check && !config_flag_get(c->defs, c->n_defs, c->vals, "strict");
    cfg = cli_build(c, &errs);
    c->n_warnings = errs.n_warnings;
    if (cfg && !c->check) {
        c->notes = errs; /* the log is not set up yet: serve logs them */
        return cfg;
    }
    config_errors_print(&errs, stderr); /* errors, then warnings */
    if (!cfg)
        *rc = c->path ? 1 : CLI_EXIT_USAGE; /* without a file, every value came from a flag */
    config_errors_free(&errs);
    return cfg;
}
