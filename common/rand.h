/* The one pseudo-random source: xorshift64, for spreading load and jittering probes. Not for
 * anything secret (tokens and keys come from OpenSSL). Each user keeps its own state, so no
 * thread shares one. */
#ifndef K3LB_COMMON_RAND_H
#define K3LB_COMMON_RAND_H

#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* Next value of a state (never 0). */
static inline uint64_t rand_next(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* A seed that differs between processes, starts and the given stream number. */
static inline uint64_t rand_seed(uint64_t stream)
{
    struct timespec ts;
    uint64_t s;
    clock_gettime(CLOCK_REALTIME, &ts);
    s = ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32) ^
        (stream * 0x9e3779b97f4a7c15ULL);
    return s ? s : 1;
}

#endif
