/* The per-source table: set-associative, so that memory is fixed whatever the number of
 * sources (a flood of spoofed-looking sources evicts stale entries, never grows the table), and
 * an entry is never evicted while it counts open connections. The rate is a two-second window:
 * this second's count plus the share of the last second's that the window still covers. */
#include "lb/source.h"
#include "common/xalloc.h"

#include "common/net.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct lb_srctab *lb_source_new(void)
{
    struct lb_srctab *t = xcalloc(1, sizeof(*t));
    for (size_t i = 0; i < LB_SRC_LOCKS; i++)
        pthread_mutex_init(&t->locks[i], NULL);
    return t;
}

void lb_source_free(struct lb_srctab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < LB_SRC_LOCKS; i++)
        pthread_mutex_destroy(&t->locks[i]);
    free(t);
}

void lb_source_key(const struct sockaddr *peer, unsigned prefix6, unsigned char key[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(key, 0, 16);
    if (peer->sa_family == AF_INET) {
        memcpy(key, mapped, sizeof(mapped));
        memcpy(key + 12, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, 4);
        return;
    }
    if (peer->sa_family != AF_INET6)
        return;
    memcpy(key, &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr, 16);
    if (memcmp(key, mapped, sizeof(mapped)) == 0)
        return; /* an IPv4 client of a dual-stack listener: its whole address */
    for (unsigned bit = prefix6; bit < 128; bit++)
        key[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
}

/* The rate of e at now: this second's count and the covered part of the last one's. */
static uint64_t entry_rate(struct lb_src_entry *e, uint64_t now_ms)
{
    uint64_t sec = now_ms / 1000;
    if (e->sec != sec) {
        e->prev = e->sec + 1 == sec ? e->curr : 0;
        e->curr = 0;
        e->sec = sec;
    }
    return e->curr + (uint64_t)e->prev * (1000 - now_ms % 1000) / 1000;
}

/* The entry of key in its set: found, or a free one, or one that counts nothing any more.
 * NULL when every entry of the set is busy. Under the set's lock. */
static struct lb_src_entry *entry_of(struct lb_src_entry *set, const unsigned char key[16],
                                     uint64_t now_ms)
{
    struct lb_src_entry *free_e = NULL;
    for (unsigned i = 0; i < LB_SRC_WAYS; i++) {
        struct lb_src_entry *e = &set[i];
        if (e->used && memcmp(e->key, key, 16) == 0)
            return e;
        if (!free_e && (!e->used || (!e->conns && e->sec + 2 <= now_ms / 1000)))
            free_e = e;
    }
    if (free_e) {
        memset(free_e, 0, sizeof(*free_e));
        memcpy(free_e->key, key, 16);
        free_e->used = 1;
        free_e->sec = now_ms / 1000;
    }
    return free_e;
}

enum lb_src_verdict lb_source_admit(struct lb_srctab *t, const struct lb_src_limits *lim,
                                    const struct sockaddr *peer, uint64_t now_ms,
                                    struct lb_src_entry **held)
{
    unsigned char key[16];
    size_t set;
    struct lb_src_entry *e;
    enum lb_src_verdict v = LB_SRC_OK;

    *held = NULL;
    lb_source_key(peer, lim->prefix6, key);
    set = net_hash(key, sizeof(key), 0x73726331) % LB_SRC_SETS;
    pthread_mutex_lock(&t->locks[set % LB_SRC_LOCKS]);
    e = entry_of(&t->e[set * LB_SRC_WAYS], key, now_ms);
    if (!e) {
        atomic_fetch_add_explicit(&t->untracked, 1, memory_order_relaxed);
    } else if (lim->max_conns && e->conns >= lim->max_conns) {
        v = LB_SRC_CONNS;
    } else if (lim->max_rate && entry_rate(e, now_ms) >= lim->max_rate) {
        v = LB_SRC_RATE;
    } else {
        entry_rate(e, now_ms);
        e->curr++;
        e->conns++;
        *held = e;
    }
    pthread_mutex_unlock(&t->locks[set % LB_SRC_LOCKS]);
    return v;
}

void lb_source_release(struct lb_srctab *t, struct lb_src_entry *held)
{
    size_t set = (size_t)(held - t->e) / LB_SRC_WAYS;
    pthread_mutex_lock(&t->locks[set % LB_SRC_LOCKS]);
    held->conns--;
    pthread_mutex_unlock(&t->locks[set % LB_SRC_LOCKS]);
}
