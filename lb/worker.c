/* Worker thread: accepts on its own sockets, runs its connections, follows view changes. */
#include "lb/worker.h"
#include "common/rand.h"
#include "common/xalloc.h"

#include "lb/conn.h"
#include "lb/source.h"
#include "lb/balance.h"
#include "lb/forward.h"
#include "lb/server.h"
#include "lb/view.h"
#include "common/mailbox.h"
#include "common/log.h"
#include "common/net.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Accepts per readiness event: bounded so one busy listener cannot starve the others. */
#define ACCEPT_BATCH 64
/* Pause after running out of file descriptors, instead of spinning on a ready listener. */
#define ACCEPT_PAUSE_MS 100
/* Forwarding buffers kept for reuse per worker. */
#define BUF_POOL_MAX 256

static void set_accepting(struct lb_worker *w, bool on)
{
    for (size_t i = 0; i < w->n_listens; i++) {
        if (on)
            event_add(&w->listens[i]->ev, NULL);
        else
            event_del(&w->listens[i]->ev);
    }
    w->accepting = on;
}

static const struct timeval full_recheck_tv = {0, 10000};

/* Accepting resumes when nothing holds it back: not stopped, not full, not pausing. */
static void update_accepting(struct lb_worker *w)
{
    bool want = w->cur && !w->stopped && !w->full && !evtimer_pending(w->accept_pause, NULL);
    if (want != w->accepting)
        set_accepting(w, want);
}

static void recheck_full(struct lb_worker *w)
{
    if (atomic_load_explicit(w->total_conns, memory_order_relaxed) >= w->max_conns)
        return;
    w->full = false;
    event_del(w->full_recheck);
    update_accepting(w);
}

static void full_recheck_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lb_worker *w = arg;
    (void)fd;
    (void)what;
    recheck_full(w);
    if (w->full)
        event_add(w->full_recheck, &full_recheck_tv);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    update_accepting(arg);
}

/* Out of descriptors or memory: new clients wait in the backlog and accepting is tried again
 * every ACCEPT_PAUSE_MS. One line when it starts and one when it ends, however long it lasts. */
static void accept_pause(struct lb_worker *w, int err)
{
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    if (!w->accept_paused)
        log_warn("accept_paused",
                 "worker %u: accept failed (%s); retrying every %d ms until it works", w->id,
                 strerror(err), ACCEPT_PAUSE_MS);
    w->accept_paused = true;
    set_accepting(w, false);
    event_add(w->accept_pause, &tv);
}

/* ---- connections: the worker owns their structs and the list of open ones ------------------- */

/* Connection structs kept for reuse; beyond this they go back to malloc. */
#define CONN_POOL_MAX 4096

static void wview_release(struct lb_worker *w, struct lb_wview *wv);

/* Drops a retired view once its last connection of this worker is gone. */
static void retire_if_idle(struct lb_worker *w, struct lb_wview *wv)
{
    struct lb_wview **pp = &w->retired;
    if (wv == w->cur || wv->conns)
        return;
    while (*pp && *pp != wv)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = wv->next;
        wview_release(w, wv);
    }
}

/* A zeroed connection registered under the current view, or NULL without memory. */
static struct lb_conn *conn_get(struct lb_worker *w)
{
    struct lb_conn *c = w->free_conns;
    if (c) {
        w->free_conns = c->next;
        w->n_free_conns--;
    } else if (!(c = malloc(sizeof(*c)))) {
        return NULL;
    }
    memset(c, 0, sizeof(*c));
    c->cs.fd = c->ss.fd = -1;
    c->home = &w->home;
    c->wv = w->cur;
    w->cur->conns++;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    return c;
}

/* conn.c's last word on a connection: unlink it, give its maxconn slot back and keep the
 * struct for reuse. */
static void conn_done(struct lb_conn_home *home, struct lb_conn *c)
{
    struct lb_worker *w = (struct lb_worker *)((char *)home - offsetof(struct lb_worker, home));
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    c->wv->conns--;
    retire_if_idle(w, c->wv);
    atomic_fetch_sub_explicit(w->total_conns, 1, memory_order_relaxed);
    if (w->full)
        recheck_full(w);
    if (w->n_free_conns < CONN_POOL_MAX) {
        c->next = w->free_conns;
        w->free_conns = c;
        w->n_free_conns++;
    } else {
        free(c);
    }
}

static void conn_pool_drain(struct lb_worker *w)
{
    while (w->free_conns) {
        struct lb_conn *c = w->free_conns;
        w->free_conns = c->next;
        free(c);
    }
    w->n_free_conns = 0;
}

/* Takes one of the maxconn slots shared by all workers before accepting, so that workers
 * accepting at the same moment cannot together pass the limit. */
static bool take_slot(struct lb_worker *w)
{
    if (atomic_fetch_add_explicit(w->total_conns, 1, memory_order_relaxed) < w->max_conns)
        return true;
    atomic_fetch_sub_explicit(w->total_conns, 1, memory_order_relaxed);
    /* Full: leave further clients in the kernel's backlog until one ends. A connection ending
     * here resumes at once; one ending in another worker is noticed by the re-check timer. */
    w->full = true;
    update_accepting(w);
    event_add(w->full_recheck, &full_recheck_tv);
    return false;
}

/* The frontend's deny list, then its allow list (when it has one). */
static bool admitted(const struct config_frontend *f, const struct sockaddr *peer)
{
    for (size_t i = 0; i < f->n_deny; i++)
        if (net_cidr_match(&f->deny[i], peer))
            return false;
    for (size_t i = 0; i < f->n_allow; i++)
        if (net_cidr_match(&f->allow[i], peer))
            return true;
    return f->n_allow == 0;
}

/* One line per refused source, at most one a second per worker: a flood cannot flood the
 * log as well. */
static void source_refused(const struct lb_view_front *vf, const struct sockaddr *peer,
                           enum lb_src_verdict v)
{
    static _Thread_local struct log_rate rate;
    const char *more;
    char who[NET_ADDRSTRLEN];
    if (!log_rate_allow(&rate, clock_now_ms(), &more))
        return;
    net_format(peer, sizeof(struct sockaddr_storage), who, sizeof(who));
    log_warn("source_limited", "%s: %s over %s: reset%s", vf->cfg->name, who,
             v == LB_SRC_CONNS ? "source_max_conns" : "source_max_rate", more);
}

/* The frontend's per-source limits; *held: the client's count, given back when it closes. */
static bool source_admitted(const struct lb_view_front *vf, const struct sockaddr *peer,
                            struct lb_src_entry **held)
{
    struct lb_srctab *t = atomic_load_explicit(&vf->front->src, memory_order_relaxed);
    const struct config_frontend *f = vf->cfg;
    struct lb_src_limits lim = {f->source_max_conns, f->source_max_rate, f->source_ipv6_prefix};
    enum lb_src_verdict v;
    *held = NULL;
    if (!t || (!lim.max_conns && !lim.max_rate))
        return true;
    v = lb_source_admit(t, &lim, peer, clock_now_ms(), held);
    if (v == LB_SRC_OK)
        return true;
    atomic_fetch_add_explicit(v == LB_SRC_CONNS ? &vf->front->limited_conns
                                                : &vf->front->limited_rate,
                              1, memory_order_relaxed);
    source_refused(vf, peer, v);
    return false;
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct lb_wlisten *l = arg;
    struct lb_worker *w = l->w;
    (void)what;
    for (int i = 0; i < ACCEPT_BATCH && w->accepting && take_slot(w); i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            const struct lb_view_front *vf = &w->cur->view->fronts[l->front];
            struct lb_src_entry *held = NULL;
            struct lb_conn *c;
            if (w->accept_paused) {
                w->accept_paused = false;
                log_info("accept_resumed", "worker %u: accepting again", w->id);
            }
            if (!admitted(vf->cfg, (struct sockaddr *)&peer)) {
                atomic_fetch_add_explicit(&vf->front->denied, 1, memory_order_relaxed);
                net_close_reset(fd);
                atomic_fetch_sub_explicit(w->total_conns, 1, memory_order_relaxed);
                continue;
            }
            if (!source_admitted(vf, (struct sockaddr *)&peer, &held)) {
                net_close_reset(fd);
                atomic_fetch_sub_explicit(w->total_conns, 1, memory_order_relaxed);
                continue;
            }
            if ((c = conn_get(w))) {
                c->src = held;
                lb_conn_start(c, w->cur->view, vf, w->cur->bal, fd, (struct sockaddr *)&peer, len);
                continue;
            }
            if (held)
                lb_source_release(atomic_load(&vf->front->src), held);
            net_close_reset(fd);
            errno = ENOMEM;
        }
        atomic_fetch_sub_explicit(w->total_conns, 1, memory_order_relaxed); /* the slot back */
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            accept_pause(w, errno);
            return;
        }
        /* ECONNABORTED, EPERM (firewall), EINTR: that one client is gone; go on. */
    }
}

static struct lb_wlisten *find_listen(struct lb_worker *w, int fd)
{
    for (size_t i = 0; i < w->n_listens; i++)
        if (w->listens[i]->fd == fd)
            return w->listens[i];
    return NULL;
}

/* Makes the worker's accept events match the view: keeps sockets present in both, arms new
 * ones, drops the rest (their fds belong to the main thread, which closes them later). */
static void sync_listens(struct lb_worker *w, struct lb_view *v)
{
    struct lb_wlisten **next = NULL;
    size_t n = 0, cap = 0;

    for (size_t f = 0; f < v->n_fronts; f++) {
        for (size_t j = 0; j < v->fronts[f].n_listen; j++) {
            int fd = v->fronts[f].listen[j]->fds[w->id];
            struct lb_wlisten *l = find_listen(w, fd);
            if (!l) {
                l = xcalloc(1, sizeof(*l));
                l->w = w;
                event_assign(&l->ev, w->base, fd, EV_READ | EV_PERSIST, accept_cb, l);
                if (w->accepting)
                    event_add(&l->ev, NULL);
            }
            l->fd = fd;
            l->front = f;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                next = xreallocarray(next, cap, sizeof(*next));
            }
            next[n++] = l;
        }
    }
    for (size_t i = 0; i < w->n_listens; i++) {
        bool kept = false;
        for (size_t k = 0; k < n && !kept; k++)
            kept = next[k] == w->listens[i];
        if (!kept) {
            event_del(&w->listens[i]->ev);
            free(w->listens[i]);
        }
    }
    free(w->listens);
    w->listens = next;
    w->n_listens = n;
}

static void wview_release(struct lb_worker *w, struct lb_wview *wv)
{
    for (size_t i = 0; i < wv->view->n_pools; i++)
        balance_state_free(&wv->bal[i]);
    free(wv->bal);
    if (lb_view_unref(wv->view))
        mailbox_post(w->main_mbox, LB_REPORT_VIEW_FREE, wv->view);
    free(wv);
}

static uint64_t next_seed(struct lb_worker *w)
{
    return rand_next(&w->rng);
}

/* maxconn counts over all workers: one shared counter, so that an uneven spread of clients
 * over the workers' sockets cannot leave one worker refusing while another has room.
 * maxconn 0: as many as the open-file limit allows, two descriptors per connection and some
 * kept for listeners, probes and the admin API. */
static size_t conn_limit(unsigned maxconn)
{
    struct rlimit rl;
    size_t total = maxconn;
    if (!total) {
        total = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                    ? (size_t)rl.rlim_cur
                    : 1048576;
        total = total > 256 ? (total - 128) / 2 : 64;
    }
    return total;
}

static void adopt_view(struct lb_worker *w, struct lb_view *v)
{
    struct lb_wview *wv = xcalloc(1, sizeof(*wv)), *old = w->cur;
    wv->view = v;
    wv->bal = xcalloc(v->n_pools ? v->n_pools : 1, sizeof(*wv->bal));
    for (size_t i = 0; i < v->n_pools; i++)
        balance_state_init(&wv->bal[i], v->pools[i].n, next_seed(w));
    w->bufs.splice = v->cfg->splice;
    if (w->bufs.size != v->cfg->buffer_size) {
        lb_fwd_drain(&w->bufs);
        w->bufs.size = v->cfg->buffer_size;
    }
    w->cur = wv;
    w->max_conns = conn_limit(v->cfg->maxconn);
    w->full = atomic_load(w->total_conns) >= w->max_conns;
    sync_listens(w, v);
    update_accepting(w);
    if (!old)
        return;
    if (old->conns == 0) {
        wview_release(w, old);
    } else {
        old->next = w->retired;
        w->retired = old;
    }
}

static void close_server_conns(struct lb_worker *w, const void *server)
{
    struct lb_conn *c = w->conns;
    while (c) {
        struct lb_conn *next = c->next; /* killing c unlinks it */
        if (c->server == server)
            lb_conn_kill(c, LB_END_KILLED);
        c = next;
    }
}

static void exit_worker(struct lb_worker *w)
{
    w->stopped = true;
    update_accepting(w);
    while (w->conns)
        lb_conn_kill(w->conns, LB_END_SHUTDOWN);
    event_base_loopbreak(w->base);
}

static void on_command(void *arg, int type, void *ptr)
{
    struct lb_worker *w = arg;
    switch ((enum lb_worker_cmd)type) {
    case LB_WORKER_VIEW:
        adopt_view(w, ptr);
        break;
    case LB_WORKER_CLOSE_SERVER:
        close_server_conns(w, ptr);
        break;
    case LB_WORKER_STOP_ACCEPT:
        w->stopped = true;
        update_accepting(w);
        break;
    case LB_WORKER_EXIT:
        exit_worker(w);
        break;
    case LB_WORKER_KICK:
        lb_conn_home_kick(&w->home);
        break;
    }
}

/* Any thread: the worker's queued connections look for a slot from its own loop. */
static void kick_home(struct lb_conn_home *home)
{
    struct lb_worker *w = (struct lb_worker *)((char *)home - offsetof(struct lb_worker, home));
    mailbox_post(&w->mbox, LB_WORKER_KICK, NULL);
}

struct lb_worker *lb_worker_new(unsigned id, atomic_size_t *total_conns, struct mailbox *main_mbox)
{
    struct lb_worker *w = xcalloc(1, sizeof(*w));
    struct event_config *ec = xalloc_check(event_config_new());

    /* Only this worker's thread touches its base; cross-thread wake-ups go through the
     * mailbox's eventfd, so libevent's own locking is not needed. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!w->base || mailbox_init(&w->mbox, w->base, on_command, w) < 0) {
        if (w->base)
            event_base_free(w->base);
        free(w);
        return NULL;
    }
    w->id = id;
    w->total_conns = total_conns;
    w->main_mbox = main_mbox;
    w->accepting = false; /* armed once the first view arrives */
    w->rng = rand_seed(id + 1);
    w->accept_pause = evtimer_new(w->base, accept_resume_cb, w);
    w->full_recheck = evtimer_new(w->base, full_recheck_cb, w);
    w->home = (struct lb_conn_home){
        .base = w->base, .bufs = &w->bufs, .done = conn_done, .kick = kick_home};
    lb_fwd_init(&w->bufs, 16384, BUF_POOL_MAX);
    return w;
}

static void *worker_main(void *arg)
{
    struct lb_worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

/* Workers block the asynchronous signals, so that every one reaches the main thread's loop
 * and in the order sent: a SIGUSR2 and a SIGTERM caught by two threads at once could write
 * their wake-ups in either order, and a stop could overtake the upgrade asked before it.
 * Faults (SIGSEGV and the like) stay with the thread that caused them. */
int lb_worker_start(struct lb_worker *w)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* the new thread inherits the mask */
    rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    w->started = rc == 0;
    return rc;
}

void lb_worker_post(struct lb_worker *w, enum lb_worker_cmd cmd, void *ptr)
{
    mailbox_post(&w->mbox, (int)cmd, ptr);
}

void lb_worker_join_free(struct lb_worker *w)
{
    if (w->started)
        pthread_join(w->thread, NULL);
    mailbox_close(&w->mbox); /* a worker that never ran adopts and drops its views here */
    while (w->retired) {
        struct lb_wview *next = w->retired->next;
        wview_release(w, w->retired);
        w->retired = next;
    }
    if (w->cur)
        wview_release(w, w->cur);
    for (size_t i = 0; i < w->n_listens; i++) {
        event_del(&w->listens[i]->ev);
        free(w->listens[i]);
    }
    free(w->listens);
    event_free(w->accept_pause);
    event_free(w->full_recheck);
    conn_pool_drain(w);
    lb_fwd_drain(&w->bufs);
    event_base_free(w->base);
    free(w);
}
