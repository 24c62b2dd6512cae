/* Buffered forwarding with recv/send on edge-triggered sockets.
 *
 * A read shorter than the room offered means the socket is drained: the flag is cleared without
 * the extra recv() that would only say EAGAIN. That is safe because sockets are also registered
 * for EPOLLRDHUP: a FIN that arrived with the last bytes is announced on its own (rdhup). Once
 * the FIN was announced before a read, a short read took everything before it, so it is the
 * end: the recv() that would only return 0 is spared too (one call per direction of a short
 * connection). libevent reports a reset (EPOLLERR) as readable and writable, never as closed,
 * so rdhup is never set by one and a reset is not taken for a FIN (test_forward checks this). The
 * same holds for short sends. A full buffer is the back-pressure point: reading stops until the
 * destination takes some. */
#include "lb/forward.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* Pipes kept for reuse per worker (each costs two descriptors). */
#define PIPE_POOL_MAX 32
/* Bytes a pipe may hold. Measured with iperf3 through k3lb on loopback: 64 KiB (the default)
 * 11.3 Gbit/s, 256 KiB 13.0, 1 MiB 13.4; 256 KiB takes most of the gain while staying far from
 * the per-user limit on pipe pages (pipe-user-pages-soft), past which pipes shrink to a page.
 * Pages are only used while bytes are in flight. */
#define PIPE_BYTES (256 * 1024)
/* Consecutive small wake-ups (each bringing some bytes, fewer than TRICKLE_BYTES) after which
 * a spliced flow goes back to copying: keep-alive requests after a large body want the cheap
 * path back, but a fast stream has small wake-ups too. Measured with iperf3, one stream on
 * loopback: going back at the first small wake-up gave 11 Gbit/s, after 8 gives 16-17; wake-ups
 * that found the source empty (woken by the destination) must not count, or it falls to 12. */
#define TRICKLES_TO_COPY 8
#define TRICKLE_BYTES    4096

void lb_fwd_init(struct lb_fwd *p, size_t size, size_t max_free)
{
    p->free = NULL;
    p->n_free = 0;
    p->max_free = max_free;
    p->size = size;
    p->in_use = 0;
    p->splice = false;
    p->free_pipes = NULL;
    p->n_free_pipes = 0;
    p->pipes_in_use = 0;
    p->pipe_size = 0;
}

void lb_fwd_drain(struct lb_fwd *p)
{
    while (p->free) {
        struct lb_buf *b = p->free;
        p->free = b->next;
        free(b);
    }
    p->n_free = 0;
    while (p->free_pipes) {
        struct lb_pipe *pp = p->free_pipes;
        p->free_pipes = pp->next;
        close(pp->rd);
        close(pp->wr);
        free(pp);
    }
    p->n_free_pipes = 0;
}

static struct lb_pipe *pipe_get(struct lb_fwd *p)
{
    struct lb_pipe *pp = p->free_pipes;
    int fds[2];
    if (pp) {
        p->free_pipes = pp->next;
        p->n_free_pipes--;
    } else {
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
            return NULL;
        if (!(pp = malloc(sizeof(*pp)))) {
            close(fds[0]);
            close(fds[1]);
            return NULL;
        }
        pp->rd = fds[0];
        pp->wr = fds[1];
        fcntl(pp->wr, F_SETPIPE_SZ, PIPE_BYTES); /* keeps the default size if refused */
        if (!p->pipe_size) {
            int sz = fcntl(pp->wr, F_GETPIPE_SZ);
            p->pipe_size = sz > 0 ? (size_t)sz : 65536;
        }
    }
    p->pipes_in_use++;
    return pp;
}

/* Only empty pipes are reused: one holding bytes of a dead connection is closed. */
static void pipe_put(struct lb_fwd *p, struct lb_pipe *pp, bool empty)
{
    p->pipes_in_use--;
    if (!empty || p->n_free_pipes >= PIPE_POOL_MAX) {
        close(pp->rd);
        close(pp->wr);
        free(pp);
        return;
    }
    pp->next = p->free_pipes;
    p->free_pipes = pp;
    p->n_free_pipes++;
}

static struct lb_buf *buf_get(struct lb_fwd *p)
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

static void buf_put(struct lb_fwd *p, struct lb_buf *b)
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

void lb_flow_release(struct lb_fwd *pool, struct lb_flow *f)
{
    if (f->buf)
        buf_put(pool, f->buf);
    f->buf = NULL;
    if (f->pipe)
        pipe_put(pool, f->pipe, f->in_pipe == 0);
    f->pipe = NULL;
    f->in_pipe = 0;
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
static bool fill(struct lb_fwd *pool, struct lb_flow *f, struct lb_side *src, bool *progress)
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
            if ((size_t)n < room && src->rdhup)
                src->eof = true; /* drained up to the FIN announced before this read */
            else if ((size_t)n < room)
                src->readable = false; /* drained; a later FIN comes with its own event */
            else if (b->tail == b->size && pool->splice) {
                f->bulk = true; /* more than a buffer's worth waiting: splice from now */
                return true;    /* once this buffer is sent, the pipe takes over */
            }
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

/* ---- zero-copy path: socket -> pipe -> socket ------------------------------------------------ */

#define SPLICE_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

static bool splice_flush(struct lb_flow *f, struct lb_side *dst, uint64_t *moved, bool *progress)
{
    while (f->in_pipe && dst->writable) {
        ssize_t n = splice(f->pipe->rd, NULL, dst->fd, NULL, f->in_pipe, SPLICE_FLAGS);
        if (n > 0) {
            f->in_pipe -= (uint32_t)n;
            f->bytes += (uint64_t)n;
            *moved += (uint64_t)n;
            *progress = true;
        } else if (n < 0 && would_block()) {
            dst->writable = false;
        } else if (n < 0 && errno != EINTR) {
            dst->err = errno;
            return false;
        }
    }
    return true;
}

/* A splice from a socket says EAGAIN both when the socket is empty and when the pipe has no
 * free slot; only with an empty pipe does it mean the socket is drained. With bytes in the
 * pipe, reading waits for the flush to make room. */
static bool splice_fill(struct lb_fwd *fx, struct lb_flow *f, struct lb_side *src, bool *progress)
{
    size_t got = 0; /* bytes taken in this call */
    while (src->readable && !src->eof && f->in_pipe < fx->pipe_size) {
        ssize_t n =
            splice(src->fd, NULL, f->pipe->wr, NULL, fx->pipe_size - f->in_pipe, SPLICE_FLAGS);
        if (n > 0) {
            f->in_pipe += (uint32_t)n;
            got += (size_t)n;
            *progress = true;
        } else if (n == 0) {
            src->eof = true;
            *progress = true;
        } else if (would_block()) {
            if (f->in_pipe == 0) {
                src->readable = false;
                /* Bulk stays bulk through a few small wake-ups (a stream has its pauses);
                 * a run of them means the flow turned interactive, cheaper copied. */
                if (got >= TRICKLE_BYTES)
                    f->trickles = 0;
                else if (got && ++f->trickles >= TRICKLES_TO_COPY) {
                    f->bulk = false;
                    f->trickles = 0;
                }
            }
            return true;
        } else if (errno != EINTR) {
            src->err = errno;
            return false;
        }
    }
    return true;
}

/* true when the flow was handled here; false to use the copy path (no pipe to be had). */
static bool forward_splice(struct lb_fwd *fx, struct lb_flow *f, struct lb_side *src,
                           struct lb_side *dst, uint64_t *moved, bool *failed)
{
    bool progress = true;
    if (!f->pipe) {
        if (!src->readable || src->eof)
            return true; /* nothing to move: no pipe needed */
        if (!(f->pipe = pipe_get(fx)))
            return false;
    }
    while (progress) {
        progress = false;
        if (!splice_flush(f, dst, moved, &progress) || !splice_fill(fx, f, src, &progress)) {
            *failed = true;
            return true;
        }
    }
    if (f->in_pipe == 0) {
        pipe_put(fx, f->pipe, true); /* nothing in flight: an idle connection holds no pipe */
        f->pipe = NULL;
    }
    return true;
}

/* ---- copy path ------------------------------------------------------------------------------ */

static bool forward_copy(struct lb_fwd *pool, struct lb_flow *f, struct lb_side *src,
                         struct lb_side *dst, uint64_t *moved)
{
    bool progress = true;
    while (progress) {
        progress = false;
        if (!flush(f, dst, moved, &progress) || !fill(pool, f, src, &progress))
            return false;
    }
    if (f->buf && f->buf->head == f->buf->tail)
        lb_flow_release(pool, f); /* nothing in flight: an idle connection holds no buffer */
    return true;
}

enum lb_flow_status lb_forward(struct lb_fwd *pool, struct lb_flow *f, struct lb_side *src,
                               struct lb_side *dst, uint64_t *moved)
{
    bool failed = false;

    if (f->done)
        return LB_FLOW_DONE;
    /* Interactive traffic is copied: one recv() and one send() per message, where a splice
     * needs a second call to learn the socket is empty. Once reads fill whole buffers the flow
     * is bulk and moves through a pipe; bytes already in a buffer are sent from it first. */
    bool spliced = pool->splice && (f->bulk || f->pipe) && !f->buf;
    if (!(spliced && forward_splice(pool, f, src, dst, moved, &failed)) &&
        !forward_copy(pool, f, src, dst, moved))
        return LB_FLOW_ERROR;
    if (failed)
        return LB_FLOW_ERROR;
    if (src->eof && !f->buf && !f->pipe) {
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
