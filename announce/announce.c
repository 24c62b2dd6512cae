/* The announcement (see announce.h): every third of the addresses' lifetime, k3lb asks itself
 * what `k3lb ctl health` would answer for the chosen frontends; while that passes it puts each
 * address on its interface again (which renews its lifetime), and when it fails, or once k3lb
 * stops, it takes them off. Each address also gets a local route of its own through the
 * interface, so connections that routers still send while they learn of a withdrawal are
 * accepted. */
#include "announce/announce.h"
#include "common/xalloc.h"

#include "admin/healthz.h"
#include "common/clock.h"
#include "common/ifaddr.h"
#include "common/log.h"
#include "common/upgrade.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct announce {
    struct runtime *rt;
    char ifname[16];        /* the interface */
    int fd;                 /* holding it */
    struct net_cidr *addrs; /* what is announced */
    char **texts;           /* the same as text */
    size_t n;
    char **fronts; /* whose health decides (none: every frontend) */
    size_t n_fronts;
    unsigned lifetime_s;   /* of each address */
    bool announced;        /* the addresses are on */
    bool withdrawn;        /* stopping: never again */
    char reason[512];      /* why announced or not */
    uint64_t since_ms;     /* of the current state */
    unsigned long changes; /* announcements and withdrawals */
    char failed[256];      /* the last netlink failure logged, so it is logged once */
    struct event *tick;
};

static void cidr_text(const struct net_cidr *c, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(c->family, c->addr, ip, sizeof(ip));
    snprintf(buf, len, "%s/%u", ip, c->bits);
}

/* A netlink failure is logged when it first happens and when it changes, not each tick. */
static void failure(struct announce *a, const char *err)
{
    if (strcmp(err, a->failed) == 0)
        return;
    snprintf(a->failed, sizeof(a->failed), "%s", err);
    log_error("announce", "%s", err);
}

static void routes(struct announce *a, bool add)
{
    char err[256];
    for (size_t i = 0; i < a->n; i++)
        if (ifaddr_local_route(a->ifname, &a->addrs[i], add, err, sizeof(err)) < 0)
            failure(a, err);
}

/* The local routes too, each time: an address that expired while k3lb hung took them with it
 * (see take_off), and k3lb did not see it go. */
static void put_on(struct announce *a)
{
    char err[256];
    for (size_t i = 0; i < a->n; i++)
        if (ifaddr_set(a->ifname, &a->addrs[i], a->lifetime_s, err, sizeof(err)) < 0)
            failure(a, err);
    routes(a, true);
}

/* The kernel drops every IPv4 route of an interface whose last IPv4 address goes (fib_disable_ip),
 * the local routes too: they are put back. */
static void take_off(struct announce *a)
{
    char err[256];
    for (size_t i = 0; i < a->n; i++)
        if (ifaddr_del(a->ifname, &a->addrs[i], err, sizeof(err)) < 0)
            failure(a, err);
    routes(a, true);
}

static void set_state(struct announce *a, bool on, const char *why)
{
    char list[256] = "";
    size_t used = 0;
    snprintf(a->reason, sizeof(a->reason), "%s", why);
    if (on == a->announced)
        return;
    a->announced = on;
    a->since_ms = clock_now_ms();
    a->changes++;
    for (size_t i = 0; i < a->n && used < sizeof(list); i++)
        used +=
            (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", a->texts[i]);
    if (on)
        log_info("announce", "announcing %s on %s: %s", list, a->ifname, why);
    else
        log_warn("announce", "withdrew %s from %s: %s", list, a->ifname, why);
}

static void evaluate(struct announce *a)
{
    char msg[512];
    int code;
    if (a->withdrawn)
        return;
    code =
        admin_healthz(a->rt, false, (const char *const *)a->fronts, a->n_fronts, msg, sizeof(msg));
    if (code == 200) {
        put_on(a); /* again each time: that renews the lifetimes */
        set_state(a, true, msg);
    } else {
        if (a->announced)
            take_off(a);
        set_state(a, false, msg);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evaluate(arg);
}

static void forget_config(struct announce *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->texts[i]);
    for (size_t i = 0; i < a->n_fronts; i++)
        free(a->fronts[i]);
    free(a->addrs);
    free(a->texts);
    free(a->fronts);
    a->addrs = NULL;
    a->texts = a->fronts = NULL;
    a->n = a->n_fronts = 0;
}

static void take_config(struct announce *a, const struct config_announce *c)
{
    char text[INET6_ADDRSTRLEN + 8];
    struct timeval tv;
    uint64_t renew;
    a->n = c->n_addresses;
    a->addrs = xcalloc(a->n + 1, sizeof(*a->addrs));
    a->texts = xcalloc(a->n + 1, sizeof(*a->texts));
    for (size_t i = 0; i < a->n; i++) {
        a->addrs[i] = c->addresses[i];
        cidr_text(&c->addresses[i], text, sizeof(text));
        a->texts[i] = xstrdup(text);
    }
    a->n_fronts = c->n_frontends;
    a->fronts = xcalloc(a->n_fronts + 1, sizeof(*a->fronts));
    for (size_t i = 0; i < a->n_fronts; i++)
        a->fronts[i] = xstrdup(c->frontends[i]);
    a->lifetime_s = (unsigned)((c->lifetime_ms + 999) / 1000);
    renew = c->lifetime_ms / 3;
    tv = (struct timeval){(time_t)(renew / 1000), (suseconds_t)(renew % 1000) * 1000};
    event_del(a->tick);
    event_add(a->tick, &tv);
}

struct announce *announce_new(struct event_base *base, const struct config *cfg, struct runtime *rt,
                              char *err, size_t errlen)
{
    const struct config_announce *c = &cfg->announce;
    struct announce *a;
    int fd;
    err[0] = '\0';
    if (!c->n_addresses)
        return NULL;
    fd = upgrade_take_announce(); /* the predecessor's, which holds the announcement */
    if (fd < 0 && (fd = ifaddr_tun_open(c->interface, err, errlen)) < 0)
        return NULL;
    a = xcalloc(1, sizeof(*a));
    a->rt = rt;
    a->fd = fd;
    snprintf(a->ifname, sizeof(a->ifname), "%s", c->interface);
    a->since_ms = clock_now_ms();
    snprintf(a->reason, sizeof(a->reason), "not decided yet");
    a->tick = event_new(base, -1, EV_PERSIST, on_tick, a);
    take_config(a, c);
    routes(a, true);
    evaluate(a);
    return a;
}

static bool names(const struct config_announce *c, const struct net_cidr *addr)
{
    for (size_t i = 0; i < c->n_addresses; i++)
        if (c->addresses[i].family == addr->family && c->addresses[i].bits == addr->bits &&
            memcmp(c->addresses[i].addr, addr->addr, sizeof(addr->addr)) == 0)
            return true;
    return false;
}

void announce_configure(struct announce *a, const struct config *cfg)
{
    char err[256];
    /* what the new config no longer names goes; the rest stays on and is renewed */
    for (size_t i = 0; i < a->n; i++)
        if (!names(&cfg->announce, &a->addrs[i]) &&
            (ifaddr_del(a->ifname, &a->addrs[i], err, sizeof(err)) < 0 ||
             ifaddr_local_route(a->ifname, &a->addrs[i], false, err, sizeof(err)) < 0))
            failure(a, err);
    forget_config(a);
    take_config(a, &cfg->announce);
    routes(a, true);
    if (!a->withdrawn && a->announced)
        put_on(a); /* new ones too, before the next tick decides again */
    evaluate(a);
}

void announce_withdraw(struct announce *a, const char *why)
{
    if (!a || a->withdrawn)
        return;
    if (a->announced)
        take_off(a);
    a->withdrawn = true;
    set_state(a, false, why);
}

void announce_status(const struct announce *a, struct admin_announce *out)
{
    memset(out, 0, sizeof(*out));
    if (!a)
        return;
    out->configured = true;
    out->announced = a->announced;
    out->interface = a->ifname;
    out->addresses = (const char *const *)a->texts;
    out->n_addresses = a->n;
    out->reason = a->reason;
    out->since = (double)(clock_now_ms() - a->since_ms) / 1000.0;
    out->changes = a->changes;
}

int announce_fd(const struct announce *a)
{
    return a ? a->fd : -1;
}

void announce_free(struct announce *a, bool handed_over)
{
    if (!a)
        return;
    if (!handed_over && a->announced)
        take_off(a);
    event_free(a->tick);
    forget_config(a);
    close(a->fd); /* the last holder's close takes the interface and its routes away */
    free(a);
}
