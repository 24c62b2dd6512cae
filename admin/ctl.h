/* k3lb ctl: the command-line client of the admin API. */
#ifndef K3LB_ADMIN_CTL_H
#define K3LB_ADMIN_CTL_H

#include <stdio.h>

/* Runs "k3lb ctl ..." (argv after "ctl"); returns the exit code: 0 done, 1 refused or failed,
 * 2 usage error. */
int admin_ctl(int argc, char **argv);
/* The CTL COMMANDS section of k3lb(1) (roff), from the route table and ctl's flags. */
void admin_ctl_man(FILE *out);
/* ctl's verbs and flags as words, for shell completion. */
void admin_ctl_words(FILE *out);

#endif
