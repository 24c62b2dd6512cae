/* Types the admin API shares with what feeds it: the announcement's state (announce/ fills it
 * in, /status, /metrics and the stats page show it). */
#ifndef K3LB_ADMIN_ADMIN_T_H
#define K3LB_ADMIN_ADMIN_T_H

#include <stdbool.h>
#include <stddef.h>

/* Whether this balancer announces its anycast addresses, and why (announce/). */
struct admin_announce {
    bool configured;              /* announce.addresses names any */
    bool announced;               /* the addresses are on the interface now */
    const char *interface;        /* the TUN interface */
    const char *const *addresses; /* as text, "10.0.0.100/32" */
    size_t n_addresses;
    const char *reason;    /* why it is announced or not, in words */
    double since;          /* seconds in this state */
    unsigned long changes; /* announcements and withdrawals since start */
};

#endif
