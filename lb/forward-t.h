/* Types of forward.h (see there). */
#ifndef K3LB_LB_FORWARD_T_H
#define K3LB_LB_FORWARD_T_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One socket of a connection. */
struct lb_side {
    int fd;          /* -1 when closed */
    struct event ev; /* EV_READ|EV_WRITE|EV_ET|EV_PERSIST */
    bool readable;   /* an edge said data (or EOF) is waiting; cleared on EAGAIN */
    bool writable;   /* an edge said there is send room; cleared on EAGAIN */
    bool eof;        /* the peer sent FIN: nothing more to read */
    bool rdhup;      /* the peer announced its FIN (EPOLLRDHUP): read on until eof */
    bool shut;       /* we sent FIN (shutdown SHUT_WR) to this peer */
    int err;         /* errno of the failure on this socket, 0 if none */
};

/* A buffer in flight. */
struct lb_buf {
    struct lb_buf *next; /* free list link */
    uint32_t head;       /* first unsent byte */
    uint32_t tail;       /* end of received bytes */
    uint32_t size;       /* bytes in data (the pool size when it was made) */
    char data[];
};

/* A pipe in flight (zero-copy path): bytes spliced from the source wait here, in kernel
 * pages, until the destination takes them. */
struct lb_pipe {
    struct lb_pipe *next; /* free list link */
    int rd, wr;           /* its two ends */
};

/* A worker's forwarding resources; one per worker, no locks. Buffers and pipes exist only
 * while bytes are in flight; a few are kept for reuse. */
struct lb_fwd {
    struct lb_buf *free;        /* buffers ready for reuse */
    size_t n_free;              /* how many */
    size_t max_free;            /* kept at most; the rest go back to malloc */
    size_t size;                /* data bytes per buffer */
    size_t in_use;              /* buffers held by flows */
    bool splice;                /* move bytes with splice(2) through pipes (else copy) */
    struct lb_pipe *free_pipes; /* pipes ready for reuse (empty) */
    size_t n_free_pipes;        /* how many */
    size_t pipes_in_use;        /* pipes held by flows */
    size_t pipe_size;           /* bytes a pipe holds */
};

/* One direction. */
struct lb_flow {
    struct lb_buf *buf;   /* NULL while nothing is in flight (copy path) */
    struct lb_pipe *pipe; /* NULL while nothing is in flight (splice path) */
    uint32_t in_pipe;     /* bytes waiting in pipe */
    bool bulk;            /* reads fill whole buffers: worth splicing */
    uint8_t trickles;     /* consecutive small spliced wake-ups */
    uint64_t bytes;       /* bytes delivered to the destination */
    bool done;            /* source hit EOF and the FIN was passed on */
};

enum lb_flow_status {
    LB_FLOW_OPEN = 0, /* more may come */
    LB_FLOW_DONE,     /* finished: EOF read and FIN sent */
    LB_FLOW_ERROR,    /* a socket failed (reset, broken pipe); its err says how */
};

#endif
