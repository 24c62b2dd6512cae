/* A queue of messages into one thread's event loop: any thread posts, the owner's event base
 * runs the handler for each message in order. An eventfd wakes the loop, so the receiving base
 * needs no libevent locking. Used for main -> worker commands and worker -> main reports. */
#ifndef K3LB_COMMON_MAILBOX_H
#define K3LB_COMMON_MAILBOX_H

#include <event2/event_struct.h>
#include <pthread.h>

struct mailbox_msg {
    int type;                 /* meaning is the receiver's */
    void *ptr;                /* payload */
    struct mailbox_msg *next; /* queue link */
};

typedef void (*mailbox_handler)(void *arg, int type, void *ptr);

struct mailbox {
    pthread_mutex_t lock;            /* guards head and tail */
    struct mailbox_msg *head, *tail; /* pending messages */
    int efd;                         /* eventfd that wakes the owner */
    struct event ev;                 /* read event on efd in the owner's base */
    mailbox_handler handler;         /* runs on the owner's thread */
    void *arg;                       /* handler's argument */
};

int mailbox_init(struct mailbox *mb, struct event_base *base, mailbox_handler handler, void *arg);
/* Any thread. */
void mailbox_post(struct mailbox *mb, int type, void *ptr);
/* Owner thread, after its loop stopped: runs what is left, then frees the mailbox's resources. */
void mailbox_close(struct mailbox *mb);

#endif
