/* A queue of messages into one thread's event loop: any thread posts, the owner's event base
 * runs the handler for each message in order. An eventfd wakes the loop, so the receiving base
 * needs no libevent locking. Used for main -> worker commands and worker -> main reports. */
#ifndef K3LB_COMMON_MAILBOX_H
#define K3LB_COMMON_MAILBOX_H

#include "common/mailbox-t.h"

#include <event2/event_struct.h>
#include <pthread.h>

int mailbox_init(struct mailbox *mb, struct event_base *base, mailbox_handler handler, void *arg);
/* Any thread. */
void mailbox_post(struct mailbox *mb, int type, void *ptr);
/* Owner thread, after its loop stopped: runs what is left, then frees the mailbox's resources. */
void mailbox_close(struct mailbox *mb);

#endif
