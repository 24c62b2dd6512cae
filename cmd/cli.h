/* What the commands share: their flag tables, how a command's flags and file become a config
 * snapshot, and usage errors (exit 2). Used by main.c (check) and serve.c (serve, agent). */
#ifndef K3LB_CMD_CLI_H
#define K3LB_CMD_CLI_H

#include "config/config.h"
#include "config/flags.h"

#include <stdbool.h>
#include <stddef.h>

#define CLI_EXIT_USAGE 2
#define CLI_MAX_FLAGS  32

/* What a command was started with; kept for reloads, which rebuild from the same flags. */
struct cli {
    const char *cmd;                /* "serve", "agent", "check" */
    const struct config_flag *defs; /* its flag table */
    size_t n_defs;
    struct config_flag_value vals[CLI_MAX_FLAGS]; /* what argv and the environment said */
    struct config_override ov[CLI_MAX_FLAGS + 1]; /* those with a YAML path */
    size_t n_ov;
    const char *path;            /* -c FILE, or NULL */
    bool agent;                  /* build an agent config */
    const char *agent_listen[2]; /* agent's default listen hosts (loopback) */
    size_t n_agent_listen;
    bool check;                 /* `k3lb check`: secrets that cannot be read here are warnings
                                   (errors with --strict, as serve has them) */
    size_t n_warnings;          /* what the load warned about */
    struct config_errors notes; /* serve and agent: the load's warnings, for the log once it
                                   is set up (check prints them) */
};

extern const struct config_flag cli_serve_flags[], cli_agent_flags[], cli_check_flags[];
extern const size_t cli_n_serve_flags, cli_n_agent_flags, cli_n_check_flags;

/* A command of the k3lb binary: main.c holds the table, from which usage, the manual page and
 * the shell completion are all printed. */
struct cli_command {
    const char *name;
    const char *alias; /* another spelling, or NULL */
    int (*run)(int argc, char **argv);
    const char *synopsis;            /* arguments, for usage */
    const char *help;                /* one line */
    const struct config_flag *flags; /* its flag table, or NULL */
    const size_t *n_flags;
};
extern const struct cli_command cli_commands[];
extern const size_t cli_n_commands;

/* k3lb man 1|5 and k3lb completion bash (cmd/man.c). */
int cli_man(int argc, char **argv);
int cli_completion(int argc, char **argv);

/* argv as the process was started: a binary upgrade starts its successor with it. */
extern char **cli_argv;

/* Logs a load's warnings, one config_warning event each. */
void cli_log_warnings(const struct config_errors *errs);
/* Prints "k3lb CMD: msg (try ...)" and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *msg);
/* Parses flags and builds the snapshot. Returns NULL and sets *rc (1 config, 2 usage, 0 help). */
struct config *cli_load(struct cli *c, int argc, char **argv, bool file_required, int *rc);
/* Builds the snapshot again from the same flags and file (reload). */
struct config *cli_build(const struct cli *c, struct config_errors *errs);

/* serve.c: runs k3lb serve or k3lb agent until stopped; returns the exit status. */
int serve_main(struct cli *c, int argc, char **argv);

#endif
