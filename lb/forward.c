/* Buffered forwarding with recv/send on edge-triggered sockets.
 *
 * A read shorter than the room offered means the socket is drained: the flag is cleared without
 * the extra recv() that would only say EAGAIN. That is safe because sockets are also registered
 * for EPOLLRDHUP: a FIN that arrived with the last bytes is announced on its own (rdhup), and
 * then reads go on until recv() returns 0. The same holds for short sends. A full buffer is the
 * back-pressure point: reading stops until the destination takes some. */
#include "forward.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

void lb_bufpool_init(struct lb_bufpool *p, size_t size, size_t max_free)
{
    p->free = NULL;
    p->n_free = 0;
    p->max_free = max_free;
    p->size = size;
    p->in_use = 0;
}

void lb_bufpool_drain(struct lb_bufpool *p)
{
    while (p->free) {
        struct lb_buf *b = p->free;
        p->free = b->next;
        free(b);
    }
    p->n_free = 0;
}

static struct lb_buf *buf_get(struct lb_bufpool *p)
{
    struct lb_buf *b = p->free;
    if (b) {
        p->free = b->next;
        p->n_free--;
    } else {
        b = malloc(sizeof(*b) + p->size);
        if (!b)
            return NULL;
        b->size = (uint32_t)p->size;
    }
    b->head = b->tail = 0;
    p->in_use++;
    return b;
}

static void buf_put(struct lb_bufpool *p, struct lb_buf *b)
{
    p->in_use--;
    if (p->n_free >= p->max_free || b->size != p->size) {
        free(b);
        return;
    }
    b->next = p->free;
    p->free = b;
    p->n_free++;
}

void lb_flow_release(struct lb_bufpool *pool, struct lb_flow *f)
{
    if (f->buf)
        buf_put(pool, f->buf);
    f->buf = NULL;
}

static bool would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* Sends buffered bytes. false on a socket error. */
static bool flush(struct lb_flow *f, struct lb_side *dst, uint64_t *moved, bool *progress)
{
    struct lb_buf *b = f->buf;
    while (b && b->head < b->tail && dst->writable) {
        size_t want = b->tail - b->head;
        ssize_t n = send(dst->fd, b->data + b->head, want, MSG_NOSIGNAL);
        if (n > 0) {
            b->head += (uint32_t)n;
            f->bytes += (uint64_t)n;
            *moved += (uint64_t)n;
            *progress = true;
            if ((size_t)n < want)
                dst->writable = false; /* the socket buffer is full */
        } else if (n < 0 && would_block()) {
            dst->writable = false;
        } else if (n < 0 && errno != EINTR) {
            dst->err = errno;
            return false;
        }
    }
    return true;
}

/* Reads into the buffer's free room. false on a socket error. */
static bool fill(struct lb_bufpool *pool, struct lb_flow *f, struct lb_side *src, bool *progress)
{
    while (src->readable && !src->eof) {
        if (!f->buf && !(f->buf = buf_get(pool))) {
            src->err = ENOMEM;
            return false;
        }
        struct lb_buf *b = f->buf;
        if (b->head == b->tail)
            b->head = b->tail = 0;
        if (b->tail == b->size)
            return true; /* full: wait until the destination takes some */
        size_t room = b->size - b->tail;
        ssize_t n = recv(src->fd, b->data + b->tail, room, 0);
        if (n > 0) {
            b->tail += (uint32_t)n;
            *progress = true;
            if ((size_t)n < room && !src->rdhup)
                src->readable = false; /* drained; a later FIN comes with its own event */
        } else if (n == 0) {
            src->eof = true;
            *progress = true;
        } else if (would_block()) {
            src->readable = false;
        } else if (errno != EINTR) {
            src->err = errno;
            return false;
        }
    }
    return true;
}

enum lb_flow_status lb_forward(struct lb_bufpool *pool, struct lb_flow *f, struct lb_side *src,
                               struct lb_side *dst, uint64_t *moved)
{
    bool progress = true;

    if (f->done)
        return LB_FLOW_DONE;
    while (progress) {
        progress = false;
        if (!flush(f, dst, moved, &progress) || !fill(pool, f, src, &progress))
            return LB_FLOW_ERROR;
    }
    if (f->buf && f->buf->head == f->buf->tail)
        lb_flow_release(pool, f); /* nothing in flight: an idle connection holds no buffer */
    if (src->eof && !f->buf) {
        /* When the other direction is over too, the close that follows sends the FIN. */
        if (!(dst->eof && src->shut) && shutdown(dst->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
            dst->err = errno;
            return LB_FLOW_ERROR;
        }
        dst->shut = true;
        f->done = true;
        return LB_FLOW_DONE;
    }
    return LB_FLOW_OPEN;
}
