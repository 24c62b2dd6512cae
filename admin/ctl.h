/* k3lb ctl: the command-line client of the admin API. */
#ifndef K3LB_ADMIN_CTL_H
#define K3LB_ADMIN_CTL_H

/* Runs "k3lb ctl ..." (argv after "ctl"); returns the exit code: 0 done, 1 refused or failed,
 * 2 usage error. */
int admin_ctl(int argc, char **argv);

#endif
