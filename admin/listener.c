/* The admin listener under the API: the socket (loopback TCP or a unix socket made 0600), a cap
 * on open connections that evhttp (libevent 2.1) lacks, eviction of idle ones so a slow client
 * never locks the API out, accept paused while descriptors are short, and the hand-over of the
 * socket at a binary upgrade. Each request goes to admin_answer (admin/admin.c). */
#include "admin/admin-int.h"
#include "common/clock.h"
#include "common/xalloc.h"

#include "admin/healthz.h"
#include "config/secret.h"
#include "common/log.h"
#include "common/net.h"
#include "common/upgrade.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static void forget_closed(struct admin *a);

/* evhttp's request callback: the listener's bookkeeping, then the API's answer. */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    forget_closed(a); /* streams of connections evhttp closed since: their descriptors go now */
    if (a->paused) {
        a->paused = false;
        log_info("admin_accept_resumed", "admin API: accepting again");
    }
    admin_answer(a, req);
}

static void check_full(struct admin *a);

/* An accept failed (no descriptors left): libevent would retry at once, forever, logging each
 * time. Pause instead, say so once, and try again a little later. */
/* libevent hands the error callback evhttp's own pointer, not ours: the admin listener of the
 * process is found here instead (there is one; admin_free forgets it). */
static struct admin *live_admin;

static void accept_error(struct evconnlistener *lev, void *arg)
{
    struct admin *a = live_admin;
    struct timeval tv = {0, ADMIN_PAUSE_MS * 1000};
    int err = EVUTIL_SOCKET_ERROR();
    (void)arg;
    evconnlistener_disable(lev);
    if (!a || !a->bound || evhttp_bound_socket_get_listener(a->bound) != lev)
        return;
    if (!a->paused)
        log_warn("admin_accept_paused", "admin API: accept failed (%s); retrying every %d ms",
                 evutil_socket_error_to_string(err), ADMIN_PAUSE_MS);
    a->paused = true;
    event_add(a->resume, &tv);
}

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;
    (void)fd;
    (void)what;
    check_full(a);
    if (a->bound && !a->full)
        evconnlistener_enable(evhttp_bound_socket_get_listener(a->bound));
    /* the next accept error pauses again; one that works ends the episode (on_request) */
}

/* ---- a cap on connections, which evhttp (libevent 2.1) lacks: each connection's stream is
 * made here with an extra reference; when evhttp lets a connection go it clears the stream's
 * callbacks, which is how a closed one is told from a live one. */

static void forget_closed(struct admin *a)
{
    size_t k = 0;
    for (size_t i = 0; i < a->n_conns; i++) {
        bufferevent_event_cb ecb = NULL;
        bufferevent_getcb(a->conns[i].bev, NULL, NULL, &ecb, NULL);
        if (ecb)
            a->conns[k++] = a->conns[i];
        else
            bufferevent_decref(a->conns[i].bev); /* evhttp is done with it: now it goes */
    }
    a->n_conns = k;
}

static size_t live_conns(const struct admin *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_conns; i++)
        n += !a->conns[i].evicted;
    return n;
}

/* Whether a connection is idle: open for a while, nothing unread in the kernel or in its
 * stream, nothing being answered. A client that just connected and is sending its request is
 * not, however many others arrive after it. */
static bool conn_idle(const struct admin_conn *c, uint64_t now)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    int unread = 0;
    if (c->evicted || fd < 0 || now - c->since_ms < ADMIN_IDLE_MIN_MS)
        return false;
    if (ioctl(fd, FIONREAD, &unread) < 0 || unread > 0)
        return false;
    return !evbuffer_get_length(bufferevent_get_input(c->bev)) &&
           !evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Shuts down the oldest idle connection; evhttp then sees its end and closes it as it would
 * any other. False when none is idle. */
static bool evict_one(struct admin *a)
{
    uint64_t now = clock_now_ms();
    for (size_t i = 0; i < a->n_conns; i++) {
        struct admin_conn *c = &a->conns[i];
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        if (!conn_idle(c, now))
            continue;
        c->evicted = true;
        shutdown(fd, SHUT_RDWR);
        return true;
    }
    return false;
}

static void pause_if_full(struct admin *a)
{
    struct timeval tv = {0, 100000};
    struct evconnlistener *lev = a->bound ? evhttp_bound_socket_get_listener(a->bound) : NULL;
    if (!lev)
        return;
    if (live_conns(a) < ADMIN_MAX_CONNS) {
        a->crowded = false; /* the episode is over */
    } else if (!a->crowded) {
        a->crowded = true;
        log_warn("admin_full",
                 "admin API: %d connections open; each new client closes the longest-idle one "
                 "(idle %d ms or more), or waits until there is one",
                 ADMIN_MAX_CONNS, ADMIN_IDLE_MIN_MS);
    }
    if (live_conns(a) >= ADMIN_MAX_CONNS && !evict_one(a)) {
        a->full = true;
        evconnlistener_disable(lev);
        event_add(a->resume, &tv); /* look again soon: closes are not announced */
    } else if (a->full) {
        a->full = false;
        evconnlistener_enable(lev); /* a shortage, if it lasts, pauses it again */
    }
}

/* From a timer, never while evhttp makes a connection. */
static void check_full(struct admin *a)
{
    forget_closed(a);
    pause_if_full(a);
}

static struct bufferevent *new_conn(struct event_base *base, void *arg)
{
    struct admin *a = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL; /* evhttp makes one itself */
    bufferevent_incref(bev);
    forget_closed(a); /* before the new one joins: its callbacks are not set yet */
    pause_if_full(a); /* makes room for it, or stops taking more after it */
    a->conns = xreallocarray(a->conns, a->n_conns + 1, sizeof(*a->conns));
    a->conns[a->n_conns++] = (struct admin_conn){.bev = bev, .since_ms = clock_now_ms()};
    return bev;
}

/* A unix socket's directory may not exist yet (/run/k3lb outside systemd). */
static void make_socket_dir(const char *path)
{
    char dir[512];
    char *slash;
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0755);
    }
}

struct admin *admin_new(struct event_base *base, const struct config_admin *cfg, struct runtime *rt,
                        const struct admin_hooks *hooks, char *err, size_t errlen)
{
    const struct net_addr *listen = &cfg->listen;
    struct admin *a = xcalloc(1, sizeof(*a));
    int fd;

    a->rt = rt;
    if (hooks)
        a->hooks = *hooks;
    if ((cfg->token_file || cfg->token_env) &&
        !(a->token =
              config_secret_read(cfg->token_file, cfg->token_env, "admin token", err, errlen)))
        goto fail;
    fd = upgrade_take_admin(); /* handed over by a binary upgrade */
    if (fd < 0) {
        if (listen->kind == NET_ADDR_UNIX)
            make_socket_dir(listen->path);
        fd = net_listen(listen, false, 64, err, errlen);
        if (fd < 0)
            goto fail;
    }
    a->fd = fd;
    if (listen->kind == NET_ADDR_UNIX) {
        chmod(listen->path, 0600);
        a->unix_path = xstrdup(listen->path);
    }
    a->http = evhttp_new(base);
    if (!a->http || !(a->bound = evhttp_accept_socket_with_handle(a->http, fd))) {
        snprintf(err, errlen, "%s: cannot serve HTTP", listen->text);
        close(fd);
        goto fail;
    }
    a->resume = evtimer_new(base, accept_resume, a);
    live_admin = a;
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(a->bound), accept_error);
    evhttp_set_bevcb(a->http, new_conn, a);
    evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY);
    evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS);
    evhttp_set_timeout(a->http, ADMIN_TIMEOUT_S);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(a->http, on_request, a);
    log_info("admin_listening", "admin API on %s%s", listen->text,
             a->token ? " (token required)" : "");
    return a;
fail:
    admin_free(a);
    return NULL;
}

int admin_fd(const struct admin *a)
{
    return a ? a->fd : -1;
}

void admin_handed_over(struct admin *a)
{
    if (!a)
        return;
    /* The successor accepts on the same socket now; requests already taken here are still
     * answered, so a client never sees its request dropped. */
    if (a->bound) {
        evhttp_del_accept_socket(a->http, a->bound);
        a->bound = NULL;
    }
    free(a->unix_path); /* the successor serves the socket file now: do not remove it */
    a->unix_path = NULL;
}

bool admin_busy(struct admin *a)
{
    uint64_t now = clock_now_ms();
    if (!a)
        return false;
    forget_closed(a);
    for (size_t i = 0; i < a->n_conns; i++)
        if (!a->conns[i].evicted && !conn_idle(&a->conns[i], now))
            return true;
    return false;
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    if (live_admin == a)
        live_admin = NULL;
    if (a->http)
        evhttp_free(a->http); /* frees its connections: our references are the last */
    a->http = NULL;
    for (size_t i = 0; i < a->n_conns; i++)
        bufferevent_decref(a->conns[i].bev);
    free(a->conns);
    if (a->resume)
        event_free(a->resume);
    if (a->unix_path) {
        unlink(a->unix_path);
        free(a->unix_path);
    }
    config_secret_free(a->token);
    free(a);
}
