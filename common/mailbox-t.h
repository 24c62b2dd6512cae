/* Types of mailbox.h (see there). */
#ifndef K3LB_COMMON_MAILBOX_T_H
#define K3LB_COMMON_MAILBOX_T_H

#include <event2/event_struct.h>
#include <pthread.h>

typedef void (*mailbox_handler)(void *arg, int type, void *ptr);

struct mailbox_msg {
    int type;                 /* meaning is the receiver's */
    void *ptr;                /* payload */
    struct mailbox_msg *next; /* queue link */
};

struct mailbox {
    pthread_mutex_t lock;            /* guards head and tail */
    struct mailbox_msg *head, *tail; /* pending messages */
    int efd;                         /* eventfd that wakes the owner */
    struct event ev;                 /* read event on efd in the owner's base */
    mailbox_handler handler;         /* runs on the owner's thread */
    void *arg;                       /* handler's argument */
};

#endif
