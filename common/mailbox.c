/* Cross-thread message queue over an eventfd. */
#include "common/mailbox.h"
#include "common/xalloc.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void run_pending(struct mailbox *mb)
{
    struct mailbox_msg *m;
    pthread_mutex_lock(&mb->lock);
    m = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    while (m) {
        struct mailbox_msg *next = m->next;
        mb->handler(mb->arg, m->type, m->ptr);
        free(m);
        m = next;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    uint64_t n;
    (void)what;
    if (read(fd, &n, sizeof(n)) < 0) {
        /* EAGAIN: another wake-up already consumed the count; the queue is what matters. */
    }
    run_pending(arg);
}

int mailbox_init(struct mailbox *mb, struct event_base *base, mailbox_handler handler, void *arg)
{
    mb->head = mb->tail = NULL;
    mb->handler = handler;
    mb->arg = arg;
    mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->efd < 0)
        return -1;
    pthread_mutex_init(&mb->lock, NULL);
    event_assign(&mb->ev, base, mb->efd, EV_READ | EV_PERSIST, on_wake, mb);
    return event_add(&mb->ev, NULL);
}

void mailbox_post(struct mailbox *mb, int type, void *ptr)
{
    struct mailbox_msg *m = xmalloc(sizeof(*m));
    uint64_t one = 1;
    m->type = type;
    m->ptr = ptr;
    m->next = NULL;
    pthread_mutex_lock(&mb->lock);
    if (mb->tail)
        mb->tail->next = m;
    else
        mb->head = m;
    mb->tail = m;
    pthread_mutex_unlock(&mb->lock);
    if (write(mb->efd, &one, sizeof(one)) < 0) {
        /* EAGAIN means the counter is saturated: the owner is already due to wake. */
    }
}

void mailbox_close(struct mailbox *mb)
{
    event_del(&mb->ev);
    run_pending(mb);
    close(mb->efd);
    pthread_mutex_destroy(&mb->lock);
}
