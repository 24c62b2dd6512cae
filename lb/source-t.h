/* Types of source.h (see there). */
#ifndef K3LB_LB_SOURCE_T_H
#define K3LB_LB_SOURCE_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* A table of LB_SRC_SETS sets of LB_SRC_WAYS entries: a source hashes to one set and takes a
 * free or stale entry of it. Fixed size (about 2.6 MB), made only for frontends with limits. */
#define LB_SRC_WAYS  4
#define LB_SRC_SETS  16384
#define LB_SRC_LOCKS 256 /* sets share locks: set i uses lock i % LB_SRC_LOCKS */

/* One source address (or IPv6 prefix): its open connections and its rate of new ones. */
struct lb_src_entry {
    unsigned char key[16]; /* IPv6, or IPv4-mapped; masked to the prefix */
    uint32_t conns;        /* connections open now */
    uint32_t curr, prev;   /* connections admitted in this second and the one before */
    uint64_t sec;          /* which second curr counts (monotonic) */
    uint8_t used;
};

struct lb_srctab {
    pthread_mutex_t locks[LB_SRC_LOCKS];
    struct lb_src_entry e[LB_SRC_SETS * LB_SRC_WAYS];
    atomic_uint_fast64_t untracked; /* admitted without an entry: their set was all busy */
};

enum lb_src_verdict {
    LB_SRC_OK = 0, /* admitted */
    LB_SRC_CONNS,  /* refused: the source has source_max_conns open */
    LB_SRC_RATE,   /* refused: the source reached source_max_rate this second */
};

/* A frontend's limits per source, from its config. */
struct lb_src_limits {
    unsigned max_conns; /* 0: none */
    unsigned max_rate;  /* new connections per second; 0: none */
    unsigned prefix6;   /* IPv6 sources are counted per prefix of this length */
};

#endif
