/* The manual pages k3lb(1) and k3lb.yaml(5), and the bash completion, printed from the same
 * tables as --help and the README's key table (commands, flags, ctl routes, config keys), so
 * none of them can drift. The package build runs these; a test compares them with the help. */
#include "cmd/cli.h"

#include "admin/ctl.h"
#include "config/keys.h"

#include <stdio.h>
#include <string.h>

static void man_header(FILE *out, const char *name, int section, const char *what)
{
    fprintf(out, ".TH %s %d \"\" \"k3lb %s\" \"%s\"\n.SH NAME\n", name, section, K3LB_VERSION,
            section == 1 ? "User Commands" : "File Formats");
    config_roff(out, what);
    fputs("\n", out);
}

static void man_commands(FILE *out)
{
    fputs(".SH SYNOPSIS\n", out);
    for (size_t i = 0; i < cli_n_commands; i++) {
        fputs(".B k3lb ", out);
        config_roff(out, cli_commands[i].name);
        if (cli_commands[i].synopsis[0]) {
            fputs("\n.I ", out);
            config_roff(out, cli_commands[i].synopsis);
        }
        fputs("\n.br\n", out);
    }
    fputs(".SH DESCRIPTION\nk3lb is a layer\\-4 (TCP) load balancer for the fixed registration "
          "address of a highly available K3s or RKE2 cluster: the Kubernetes API and supervisor, "
          "etcd, the external datastore and ingress ports, with health checks that know them. "
          "TLS passes through. Two machines share a virtual IP with keepalived(8).\n"
          ".SH COMMANDS\n",
          out);
    for (size_t i = 0; i < cli_n_commands; i++) {
        fputs(".TP\n.B ", out);
        config_roff(out, cli_commands[i].name);
        fputs("\n", out);
        config_roff(out, cli_commands[i].help);
        fputs(".\n", out);
    }
    for (size_t i = 0; i < cli_n_commands; i++) {
        if (!cli_commands[i].flags)
            continue;
        fputs(".SH FLAGS OF ", out);
        config_roff(out, cli_commands[i].name);
        fputs("\nA flag with an environment variable named can be set there too.\n", out);
        config_flags_usage_roff(cli_commands[i].flags, *cli_commands[i].n_flags, out);
    }
}

static void man_page1(FILE *out)
{
    man_header(out, "K3LB", 1, "k3lb - layer-4 load balancer for a fixed K3s registration address");
    man_commands(out);
    admin_ctl_man(out);
    fputs(".SH SIGNALS\n"
          ".TP\n.B SIGTERM, SIGINT\nStop accepting; open connections may finish within "
          "\\fBgrace\\fR. A second signal closes everything.\n"
          ".TP\n.B SIGHUP\nReload the config file; an invalid one is reported and the current "
          "one keeps serving. Signals caught together are one reload.\n"
          ".TP\n.B SIGUSR2\nStart the binary on disk with the listening sockets (a binary "
          "upgrade); once it is ready this process finishes its connections and exits.\n"
          ".SH EXIT STATUS\n0: done; 1: failed (a bad config, a refused request); 2: a usage "
          "error.\n"
          ".SH ENVIRONMENT\n.TP\n.B K3LB_\\fINAME\\fR\nThe flag \\fB\\-\\-\\fR\\fIname\\fR "
          "(dashes as underscores), for the flags whose entry names it: addresses, files, "
          "secrets; never a switch.\n.TP\n.B NOTIFY_SOCKET, WATCHDOG_USEC\nThe service "
          "manager's readiness and watchdog protocol.\n"
          ".SH FILES\n.TP\n.I /etc/k3lb/k3lb.yaml\nThe configuration (k3lb.yaml(5)).\n"
          ".TP\n.I /run/k3lb/admin.sock\nThe admin API's default socket.\n"
          ".TP\n.I /usr/share/doc/k3lb/examples/\nExample configurations.\n"
          ".SH SEE ALSO\nk3lb.yaml(5), keepalived(8), systemd.service(5)\n",
          out);
}

static void man_page5(FILE *out)
{
    man_header(out, "K3LB.YAML", 5, "k3lb.yaml - configuration file of k3lb(1)");
    fputs(".SH DESCRIPTION\nA YAML mapping. Keys are written below by their path: "
          "\\fBfrontends[].listen\\fR is the \\fBlisten\\fR key of each item of the "
          "\\fBfrontends\\fR list. Durations take ms, s, m, h (\"1500ms\", \"2s\"). "
          "\\fBk3lb check \\-c\\fR \\fIFILE\\fR reports every error as "
          "\\fIfile\\fR:\\fIline\\fR:\\fIcolumn\\fR. Flags given to \\fBk3lb serve\\fR "
          "override the keys they name.\n",
          out);
    config_reference_print_roff(out);
    fputs(".SH EXAMPLES\nSee \\fI/usr/share/doc/k3lb/examples/\\fR and the commented "
          "\\fI/usr/share/doc/k3lb/k3lb.yaml\\fR.\n.SH SEE ALSO\nk3lb(1)\n",
          out);
}

int cli_man(int argc, char **argv)
{
    if (argc != 1 || (strcmp(argv[0], "1") != 0 && strcmp(argv[0], "5") != 0))
        return cli_usage_error("man", "takes one argument: 1 (k3lb) or 5 (k3lb.yaml)");
    if (argv[0][0] == '1')
        man_page1(stdout);
    else
        man_page5(stdout);
    return 0;
}

static void flag_words(FILE *out, const struct cli_command *c)
{
    for (size_t i = 0; c->flags && i < *c->n_flags; i++) {
        if (c->flags[i].short_name)
            fprintf(out, "-%c ", c->flags[i].short_name);
        fprintf(out, "--%s ", c->flags[i].name);
    }
}

int cli_completion(int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "bash") != 0)
        return cli_usage_error("completion", "takes one argument: bash");
    printf("# bash completion for k3lb, printed by 'k3lb completion bash'\n"
           "_k3lb() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words=\n"
           "    case $prev in\n"
           "    -c|--config|--token-file|--*-file) COMPREPLY=($(compgen -f -- \"$cur\")); "
           "return ;;\n"
           "    esac\n"
           "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n        words=\"");
    for (size_t i = 0; i < cli_n_commands; i++)
        printf("%s ", cli_commands[i].name);
    printf("\"\n    else\n        case ${COMP_WORDS[1]} in\n");
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        printf("        %s) words=\"", c->name);
        if (strcmp(c->name, "ctl") == 0)
            admin_ctl_words(stdout);
        else if (strcmp(c->name, "man") == 0)
            printf("1 5");
        else if (strcmp(c->name, "completion") == 0)
            printf("bash");
        else
            flag_words(stdout, c);
        printf("\" ;;\n");
    }
    printf("        esac\n    fi\n    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\n"
           "complete -F _k3lb k3lb\n");
    return 0;
}
