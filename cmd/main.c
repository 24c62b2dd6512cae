/* k3lb's entry point: one table of commands, from which the usage text is printed. Each
 * command lives where its concern does: serve and agent in serve.c, ctl in admin/ctl.c. */
#include "cmd/cli.h"

#include "admin/ctl.h"
#include "common/xalloc.h"
#include "import/haproxy.h"
#include "config/keys.h"
#include "common/upgrade.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_check(int argc, char **argv)
{
    int rc = 0;
    struct cli c = {
        .cmd = "check", .defs = cli_check_flags, .n_defs = cli_n_check_flags, .check = true};
    struct config *cfg = cli_load(&c, argc, argv, true, &rc);
    config_flags_free(c.vals, c.n_defs);
    if (!cfg)
        return rc;
    printf("%s: ok (%zu frontend%s, %zu backend%s", cfg->source, cfg->n_frontends,
           cfg->n_frontends == 1 ? "" : "s", cfg->n_backends, cfg->n_backends == 1 ? "" : "s");
    if (c.n_warnings)
        printf(", %zu warning%s", c.n_warnings, c.n_warnings == 1 ? "" : "s");
    printf(")\n");
    config_unref(cfg);
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    struct cli c = {.cmd = "serve", .defs = cli_serve_flags, .n_defs = cli_n_serve_flags};
    return serve_main(&c, argc, argv);
}

static int cmd_agent(int argc, char **argv)
{
    struct cli c = {
        .cmd = "agent", .defs = cli_agent_flags, .n_defs = cli_n_agent_flags, .agent = true};
    return serve_main(&c, argc, argv);
}

static int cmd_keys(int argc, char **argv)
{
    (void)argv;
    if (argc > 0)
        return cli_usage_error("keys", "takes no arguments");
    config_reference_print(stdout);
    return 0;
}

/* k3lb import-haproxy FILE: the YAML on stdout, one warning line per directive not carried
 * over on stderr; exit 1 when the result would not behave the same. */
static int cmd_import_haproxy(int argc, char **argv)
{
    struct haproxy_import im;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc;
    if (argc != 1 || argv[0][0] == '-')
        return cli_usage_error("import-haproxy", "takes one argument: an HAProxy config file");
    f = fopen(argv[0], "r");
    if (f) {
        text = xcalloc(1, HAPROXY_IMPORT_MAX + 1);
        len = fread(text, 1, HAPROXY_IMPORT_MAX + 1, f);
    }
    if (!f || ferror(f) || len > HAPROXY_IMPORT_MAX) {
        fprintf(stderr, "k3lb import-haproxy: %s: %s\n", argv[0],
                !f || ferror(f) ? strerror(errno) : "larger than 4 MiB");
        if (f)
            fclose(f);
        free(text);
        return 1;
    }
    fclose(f);
    haproxy_import(argv[0], text, len, &im);
    free(text);
    fputs(im.warnings, stderr);
    fputs(im.yaml, stdout);
    if (im.differs)
        fprintf(stderr,
                "k3lb import-haproxy: %s: the config written does not behave the same "
                "(see the lines above)\n",
                argv[0]);
    rc = im.differs ? 1 : 0;
    haproxy_import_free(&im);
    return rc;
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("k3lb %s\n", K3LB_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv);

/* The commands, in the order usage lists them. */
const struct cli_command cli_commands[] = {
    {"serve", NULL, cmd_serve, "-c FILE | --listen ADDR --server ADDR...",
     "run the balancer from a file, or from flags alone", cli_serve_flags, &cli_n_serve_flags},
    {"agent", NULL, cmd_agent, "--server URL [--token-file FILE]",
     "run the client-side balancer beside a K3s or RKE2 agent", cli_agent_flags,
     &cli_n_agent_flags},
    {"check", NULL, cmd_check, "-c FILE", "validate a config file and print every error",
     cli_check_flags, &cli_n_check_flags},
    {"ctl", NULL, admin_ctl, "VERB [ARGS]", "talk to a running k3lb (k3lb ctl --help)"},
    {"keys", NULL, cmd_keys, "", "print every configuration key as a Markdown table"},
    {"import-haproxy", NULL, cmd_import_haproxy, "FILE",
     "write an HAProxy config's tcp-mode subset as k3lb YAML"},
    {"man", NULL, cli_man, "1|5", "print the manual page k3lb(1) or k3lb.yaml(5) (roff)"},
    {"completion", NULL, cli_completion, "bash", "print the bash completion script"},
    {"version", "--version", cmd_version, "", "print the version"},
    {"help", "--help", cmd_help, "", "show this help"},
};
const size_t cli_n_commands = sizeof(cli_commands) / sizeof(cli_commands[0]);
static void usage(FILE *out)
{
    fprintf(out, "k3lb %s - layer-4 load balancer for a fixed K3s registration address\n\nusage:\n",
            K3LB_VERSION);
    for (size_t i = 0; i < cli_n_commands; i++) {
        char left[80];
        snprintf(left, sizeof(left), "k3lb %s %s", cli_commands[i].name, cli_commands[i].synopsis);
        fprintf(out, "  %-52s %s\n", left, cli_commands[i].help);
    }
    fprintf(out, "\n'k3lb COMMAND --help' shows a command's flags. Every flag --NAME can also be\n"
                 "set as the environment variable K3LB_NAME.\n");
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    xalloc_libraries(); /* before libevent or cJSON allocates anything */
    cli_argv = argv;
    upgrade_inherit();
    if (!cmd) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "-V") == 0)
        cmd = cmd[1] == 'h' ? "help" : "version";
    for (size_t i = 0; i < cli_n_commands; i++)
        if (strcmp(cmd, cli_commands[i].name) == 0 ||
            (cli_commands[i].alias && strcmp(cmd, cli_commands[i].alias) == 0))
            return cli_commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "k3lb: unknown command '%s' (try 'k3lb --help')\n", cmd);
    return CLI_EXIT_USAGE;
}
