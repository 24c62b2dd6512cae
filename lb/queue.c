/* A backend queue's two lists: the shared one in arrival order (its lock is held for a few
 * pointer moves, and for one pick when the oldest asks), and the worker's own. */
#include "lb/queue.h"
#include "common/xalloc.h"

#include <stdlib.h>

struct lb_queue *lb_queue_new(void)
{
    struct lb_queue *q = xcalloc(1, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    return q;
}

void lb_queue_free(struct lb_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->lock);
    free(q);
}

void lb_queue_kick_head(struct lb_queue *q)
{
    struct lb_conn_home *home = NULL;
    if (!atomic_load_explicit(&q->n, memory_order_relaxed))
        return;
    pthread_mutex_lock(&q->lock);
    if (q->head)
        home = q->head->home;
    pthread_mutex_unlock(&q->lock);
    if (home && !atomic_exchange(&home->kick_pending, true))
        home->kick(home);
}

/* Under q->lock. */
static void unlink_shared(struct lb_queue *q, struct lb_conn *c)
{
    if (c->qprev)
        c->qprev->qnext = c->qnext;
    else
        q->head = c->qnext;
    if (c->qnext)
        c->qnext->qprev = c->qprev;
    else
        q->tail = c->qprev;
    c->qprev = c->qnext = NULL;
    atomic_fetch_sub_explicit(&q->n, 1, memory_order_relaxed);
}

static void unlink_home(struct lb_conn *c)
{
    if (c->hprev)
        c->hprev->hnext = c->hnext;
    else
        c->home->queued = c->hnext;
    if (c->hnext)
        c->hnext->hprev = c->hprev;
    c->hprev = c->hnext = NULL;
}

bool lb_queue_add(struct lb_queue *q, struct lb_conn *c, bool first, size_t max)
{
    pthread_mutex_lock(&q->lock);
    if (!first && atomic_load_explicit(&q->n, memory_order_relaxed) >= max) {
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    if (first) {
        c->qnext = q->head;
        if (q->head)
            q->head->qprev = c;
        else
            q->tail = c;
        q->head = c;
    } else {
        c->qprev = q->tail;
        if (q->tail)
            q->tail->qnext = c;
        else
            q->head = c;
        q->tail = c;
    }
    atomic_fetch_add_explicit(&q->n, 1, memory_order_relaxed);
    pthread_mutex_unlock(&q->lock);
    c->hnext = c->home->queued;
    if (c->hnext)
        c->hnext->hprev = c;
    c->home->queued = c;
    return true;
}

void lb_queue_leave(struct lb_queue *q, struct lb_conn *c)
{
    pthread_mutex_lock(&q->lock);
    unlink_shared(q, c);
    pthread_mutex_unlock(&q->lock);
    unlink_home(c);
    lb_queue_kick_head(q); /* the next one may find a slot at once */
}

int lb_queue_pop_if_head(struct lb_queue *q, struct lb_conn *c, int (*take)(struct lb_conn *c))
{
    int i = -2;
    pthread_mutex_lock(&q->lock);
    if (q->head == c && (i = take(c)) != -2)
        unlink_shared(q, c);
    pthread_mutex_unlock(&q->lock);
    if (i != -2)
        unlink_home(c);
    return i;
}
