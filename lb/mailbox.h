/* A queue of messages into one thread's event loop: any thread posts, the owner's event base
 * runs the handler for each message in order. An eventfd wakes the loop, so the receiving base
 * needs no libevent locking. Used for main -> worker commands and worker -> main reports. */
#ifndef K3LB_LB_MAILBOX_H
#define K3LB_LB_MAILBOX_H

#include <event2/event_struct.h>
#include <pthread.h>

struct lb_msg {
    int type;            /* meaning is the receiver's */
    void *ptr;           /* payload */
    struct lb_msg *next; /* queue link */
};

typedef void (*lb_mailbox_handler)(void *arg, int type, void *ptr);

struct lb_mailbox {
    pthread_mutex_t lock;       /* guards head and tail */
    struct lb_msg *head, *tail; /* pending messages */
    int efd;                    /* eventfd that wakes the owner */
    struct event ev;            /* read event on efd in the owner's base */
    lb_mailbox_handler handler; /* runs on the owner's thread */
    void *arg;                  /* handler's argument */
};

int lb_mailbox_init(struct lb_mailbox *mb, struct event_base *base, lb_mailbox_handler handler,
                    void *arg);
/* Any thread. */
void lb_mailbox_post(struct lb_mailbox *mb, int type, void *ptr);
/* Owner thread, after its loop stopped: runs what is left, then frees the mailbox's resources. */
void lb_mailbox_close(struct lb_mailbox *mb);

#endif
