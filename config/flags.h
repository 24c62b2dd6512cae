/* Command-line flags and their K3LB_* environment twins.
 *
 * A command declares its flags in a table; each flag may name the YAML path it overrides, so
 * flags and files meet in the same validation. A flag NAME that sets up the host (an address,
 * a file, a secret) can also be given as the environment variable K3LB_NAME (upper case,
 * '-' -> '_'), so that secrets need not appear in argv; a flag on the command line wins over
 * the environment. Switches and one-command values (ctl --timeout) have no variable. */
#ifndef K3LB_CONFIG_FLAGS_H
#define K3LB_CONFIG_FLAGS_H

#include "config/config.h"

#include <stdio.h>

enum config_flag_kind {
    CONFIG_FLAG_SWITCH = 0, /* no value: --json */
    CONFIG_FLAG_VALUE,      /* one value; the last one given wins */
    CONFIG_FLAG_LIST,       /* repeatable; in the environment, comma-separated */
};

struct config_flag {
    const char *name;           /* long name without dashes */
    char short_name;            /* single-letter alias, or 0 */
    enum config_flag_kind kind; /* switch, value or list */
    const char *path;           /* YAML path the value overrides, or NULL */
    const char *env_alias;      /* another variable honoured too (K3S_URL), or NULL */
    const char *arg;            /* value placeholder for help, e.g. "ADDR" */
    const char *help;           /* one line */
    const char *env;            /* its variable instead of K3LB_NAME, or NULL (one variable name
                                   must mean one thing across commands); CONFIG_FLAG_NO_ENV for
                                   none. Switches are never read from the environment. */
};

#define CONFIG_FLAG_NO_ENV "-"

struct config_flag_value {
    const char **v;  /* the values given, in order */
    size_t n;        /* how many */
    char origin[64]; /* "--server" or "K3LB_SERVER": where they came from */
    char *env_copy;  /* storage for values split from an environment variable */
};

/* Parses argv[0..argc) against defs (vals has n_defs zeroed entries). Arguments that are not
 * flags are returned in pos (at most max_pos). Returns false with a one-line reason in err on a
 * usage error. */
bool config_flags_parse(const struct config_flag *defs, size_t n_defs, int argc, char **argv,
                        struct config_flag_value *vals, const char **pos, size_t *n_pos,
                        size_t max_pos, char *err, size_t errlen);

/* Fills out (room for n_defs) with an override for every given flag that has a path. */
size_t config_flags_overrides(const struct config_flag *defs, size_t n_defs,
                              const struct config_flag_value *vals, struct config_override *out);

/* The last value of a flag, or NULL. */
const char *config_flag_get(const struct config_flag *defs, size_t n_defs,
                            const struct config_flag_value *vals, const char *name);

void config_flags_usage(const struct config_flag *defs, size_t n_defs, FILE *out);
/* The same as roff tagged paragraphs, for the manual page. */
void config_flags_usage_roff(const struct config_flag *defs, size_t n_defs, FILE *out);
void config_flags_free(struct config_flag_value *vals, size_t n_defs);

#endif
