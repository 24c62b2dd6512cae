/* The service manager's readiness protocol: a datagram to $NOTIFY_SOCKET ("READY=1",
 * "RELOADING=1", "STOPPING=1", "WATCHDOG=1"). A no-op when the variable is unset. Tests use the
 * same socket as their readiness signal. */
#ifndef K3LB_COMMON_NOTIFY_H
#define K3LB_COMMON_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Connects to the manager's socket now (before privileges are dropped). */
void notify_open(void);
/* Sends one state message; false when there is no socket or the send failed. */
bool notify_send(const char *state);
/* RELOADING=1 with MONOTONIC_USEC, as a manager with Type=notify-reload expects it. */
bool notify_reloading(void);
/* The watchdog period the manager asked for (WATCHDOG_USEC), 0 if none. */
uint64_t notify_watchdog_usec(void);

#endif
