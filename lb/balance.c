/* Balancing algorithms. Each one scans the pool once per pick (O(servers)): pools are small, and
 * a scan reads the live state that a precomputed order would have to be rebuilt for. */
#include "lb/balance.h"
#include "common/rand.h"
#include "common/xalloc.h"

#include "common/net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void balance_state_init(struct balance_state *st, size_t n, uint64_t seed)
{
    st->n = n;
    st->current = xcalloc(n ? n : 1, sizeof(*st->current));
    st->turn = 0;
    st->rng = seed | 1;
}

void balance_state_free(struct balance_state *st)
{
    free(st->current);
    st->current = NULL;
}

bool balance_tried_has(const struct balance_tried *t, size_t i)
{
    if (i < 64)
        return t->small >> i & 1;
    i -= 64;
    return i / 64 < t->n_more && (t->more[i / 64] >> (i % 64) & 1);
}

void balance_tried_add(struct balance_tried *t, size_t i)
{
    if (i < 64) {
        t->small |= 1ULL << i;
        return;
    }
    i -= 64;
    if (i / 64 >= t->n_more) {
        size_t n = i / 64 + 1;
        t->more = xreallocarray(t->more, n, sizeof(*t->more));
        memset(t->more + t->n_more, 0, (n - t->n_more) * sizeof(*t->more));
        t->n_more = n;
    }
    t->more[i / 64] |= 1ULL << (i % 64);
}

void balance_tried_reset(struct balance_tried *t)
{
    free(t->more);
    memset(t, 0, sizeof(*t));
}

static uint64_t next_random(struct balance_state *st)
{
    return rand_next(&st->rng);
}

static uint64_t weight_of(const struct lb_server *s)
{
    return lb_server_eweight(s);
}

static bool is_candidate(const struct lb_pool *pool, size_t i, bool backup,
                         const struct balance_tried *tried)
{
    const struct lb_server *s = pool->srv[i];
    return atomic_load_explicit(&s->backup, memory_order_relaxed) == backup &&
           !(tried && balance_tried_has(tried, i)) && lb_server_usable(s) && lb_server_has_slot(s);
}

/* Smooth weighted round-robin: every candidate gains its weight, the richest is picked and pays
 * the total. Spreads picks evenly in time (a,b,a,c,a,b,a... for 4:2:1), not in bursts. */
static int pick_roundrobin(const struct lb_pool *pool, struct balance_state *st, bool backup,
                           const struct balance_tried *tried)
{
    int64_t total = 0;
    int best = -1;
    for (size_t i = 0; i < pool->n; i++) {
        if (!is_candidate(pool, i, backup, tried))
            continue;
        int64_t w = weight_of(pool->srv[i]);
        st->current[i] += w;
        total += w;
        if (best < 0 || st->current[i] > st->current[best])
            best = (int)i;
    }
    if (best >= 0)
        st->current[best] -= total;
    return best;
}

/* a is less loaded than b: active/weight compared without division. */
static bool lighter(const struct lb_server *a, const struct lb_server *b)
{
    return (lb_server_active(a) + 1) * weight_of(b) < (lb_server_active(b) + 1) * weight_of(a);
}

/* Fewest active connections per weight; ties go round the pool. */
static int pick_leastconn(const struct lb_pool *pool, struct balance_state *st, bool backup,
                          const struct balance_tried *tried)
{
    int best = -1;
    for (size_t k = 0; k < pool->n; k++) {
        size_t i = (st->turn + k) % pool->n;
        if (is_candidate(pool, i, backup, tried) &&
            (best < 0 || lighter(pool->srv[i], pool->srv[best])))
            best = (int)i;
    }
    st->turn++;
    return best;
}

static int pick_weighted_random(const struct lb_pool *pool, struct balance_state *st, bool backup,
                                const struct balance_tried *tried, uint64_t total)
{
    uint64_t r = next_random(st) % total;
    for (size_t i = 0; i < pool->n; i++) {
        if (!is_candidate(pool, i, backup, tried))
            continue;
        uint64_t w = weight_of(pool->srv[i]);
        if (r < w)
            return (int)i;
        r -= w;
    }
    return -1;
}

/* Power of two choices: two weighted random candidates, the lighter wins. Nearly as even as
 * leastconn, without every worker herding onto the same "least" server. */
static int pick_random(const struct lb_pool *pool, struct balance_state *st, bool backup,
                       const struct balance_tried *tried)
{
    uint64_t total = 0;
    for (size_t i = 0; i < pool->n; i++)
        if (is_candidate(pool, i, backup, tried))
            total += weight_of(pool->srv[i]);
    if (total == 0)
        return -1;
    int a = pick_weighted_random(pool, st, backup, tried, total);
    int b = pick_weighted_random(pool, st, backup, tried, total);
    return lighter(pool->srv[b], pool->srv[a]) ? b : a;
}

/* Weighted rendezvous hashing: each (client, server) pair gets a score and the best wins. When
 * a server leaves, only its clients move; the others keep their server. */
static int pick_source(const struct lb_pool *pool, bool backup, const struct balance_tried *tried,
                       uint64_t client_hash)
{
    double best_score = -1;
    int best = -1;
    for (size_t i = 0; i < pool->n; i++) {
        if (!is_candidate(pool, i, backup, tried))
            continue;
        uint64_t h = net_hash(&client_hash, sizeof(client_hash), pool->srv[i]->key_hash);
        double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* (0,1) */
        double score = weight_of(pool->srv[i]) / -log(u);
        if (score > best_score) {
            best_score = score;
            best = (int)i;
        }
    }
    return best;
}

static int pick_first(const struct lb_pool *pool, bool backup, const struct balance_tried *tried)
{
    for (size_t i = 0; i < pool->n; i++)
        if (is_candidate(pool, i, backup, tried))
            return (int)i;
    return -1;
}

/* The state the sticky manager published, unless a worker has since seen the server fail. */
static int sticky_rank(const struct lb_server *s)
{
    int r = atomic_load_explicit(&s->agent_state, memory_order_relaxed);
    if (r < LB_AGENT_RECOVERING && !lb_server_up(s))
        r = LB_AGENT_FAILED;
    return r;
}

/* Sticky: the best-ranked server, ties in list order, so every worker picks the same one.
 * Down servers stay candidates, last: the client sees an error only when every server fails. */
static int pick_sticky(const struct lb_pool *pool, const struct balance_tried *tried)
{
    int best = -1, best_rank = LB_AGENT_COUNT;
    for (size_t i = 0; i < pool->n; i++) {
        const struct lb_server *s = pool->srv[i];
        if ((tried && balance_tried_has(tried, i)) || lb_server_admin(s) != LB_ADMIN_READY ||
            !lb_server_weight(s) || !lb_server_resolved(s))
            continue;
        int r = sticky_rank(s);
        if (r < best_rank) {
            best_rank = r;
            best = (int)i;
        }
    }
    return best;
}

/* A usable server of the tier (not yet tried) is at its maxconn. */
static bool tier_full(const struct lb_pool *pool, bool backup, const struct balance_tried *tried)
{
    for (size_t i = 0; i < pool->n; i++) {
        const struct lb_server *s = pool->srv[i];
        if (atomic_load_explicit(&s->backup, memory_order_relaxed) == backup &&
            !(tried && balance_tried_has(tried, i)) && lb_server_usable(s) &&
            !lb_server_has_slot(s))
            return true;
    }
    return false;
}

static int pick_tier(const struct lb_pool *pool, struct balance_state *st, uint64_t client_hash,
                     bool backup, const struct balance_tried *tried)
{
    switch (pool->balance) {
    case CONFIG_BALANCE_ROUNDROBIN:
        return pick_roundrobin(pool, st, backup, tried);
    case CONFIG_BALANCE_LEASTCONN:
        return pick_leastconn(pool, st, backup, tried);
    case CONFIG_BALANCE_RANDOM:
        return pick_random(pool, st, backup, tried);
    case CONFIG_BALANCE_SOURCE:
        return pick_source(pool, backup, tried, client_hash);
    case CONFIG_BALANCE_FIRST:
    case CONFIG_BALANCE_STICKY:
    case CONFIG_BALANCE_COUNT:
        break;
    }
    return pick_first(pool, backup, tried);
}

static bool last_resort_candidate(const struct lb_server *s)
{
    return lb_server_resolved(s) && lb_server_admin(s) == LB_ADMIN_READY && lb_server_weight(s) > 0;
}

/* Nothing is up: a server that checks call down may still answer (a check can be wrong, or
 * behind); trying one beats failing the client for sure. Drained and maintained servers stay
 * out. Starts at a rotating point so the load spreads. */
static int pick_last_resort(const struct lb_pool *pool, struct balance_state *st,
                            const struct balance_tried *tried)
{
    for (size_t k = 0; k < pool->n; k++) {
        size_t i = (st->turn + k) % pool->n;
        const struct lb_server *s = pool->srv[i];
        if (!(tried && balance_tried_has(tried, i)) && last_resort_candidate(s) &&
            lb_server_has_slot(s)) {
            st->turn = i + 1;
            return (int)i;
        }
    }
    return -1;
}

int balance_pick(const struct lb_pool *pool, struct balance_state *st, uint64_t client_hash,
                 const struct balance_tried *tried)
{
    int i;
    if (pool->balance == CONFIG_BALANCE_STICKY)
        return pick_sticky(pool, tried);
    /* Full is not down: while a usable server of a tier is at its maxconn, the client waits
     * for it (the queue) rather than going to a backup or a down server. */
    i = pick_tier(pool, st, client_hash, false, tried);
    if (i < 0 && !tier_full(pool, false, tried))
        i = pick_tier(pool, st, client_hash, true, tried);
    if (i >= 0 || pool->cfg->when_all_down == CONFIG_ALL_DOWN_REFUSE ||
        tier_full(pool, false, tried) || tier_full(pool, true, tried))
        return i;
    return pick_last_resort(pool, st, tried);
}

bool balance_full(const struct lb_pool *pool, const struct balance_tried *tried)
{
    bool last_resort = pool->cfg->when_all_down != CONFIG_ALL_DOWN_REFUSE;
    if (pool->balance == CONFIG_BALANCE_STICKY)
        return false;
    for (size_t i = 0; i < pool->n; i++) {
        const struct lb_server *s = pool->srv[i];
        if (!(tried && balance_tried_has(tried, i)) && !lb_server_has_slot(s) &&
            (lb_server_usable(s) || (last_resort && last_resort_candidate(s))))
            return true;
    }
    return false;
}

size_t lb_pool_usable(const struct lb_pool *pool)
{
    size_t n = 0;
    for (size_t i = 0; i < pool->n; i++)
        n += lb_server_usable(pool->srv[i]);
    return n;
}

struct lb_quorum lb_pool_quorum(const struct lb_pool *pool)
{
    struct lb_quorum q = {.members = pool->n, .majority = pool->n / 2 + 1};
    for (size_t i = 0; i < pool->n; i++)
        q.healthy += lb_server_up(pool->srv[i]);
    return q;
}
