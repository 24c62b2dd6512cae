/* The one clock for durations, deadlines and timeouts: monotonic, in milliseconds, so that a
 * wall-clock step (NTP, an operator's date) never shortens or stretches a timeout. Wall-clock
 * time is used only where a person reads it (logs, /status "started"). */
#ifndef K3LB_COMMON_CLOCK_H
#define K3LB_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The same in microseconds, for short durations (connect times). */
static inline uint64_t clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

#endif
