/* The health engine: schedules probes with jitter, runs the rise/fall state machine, folds in
 * passive connect failures from workers, and reports every change once. Main thread only,
 * except the two functions named in health.h. */
#include "health/health.h"
#include "health/agent.h"
#include "common/rand.h"
#include "common/clock.h"
#include "common/xalloc.h"

#include "health/check.h"
#include "health/params.h"
#include "config/config.h"
#include "config/value.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "common/net.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/ssl.h>
#include <unistd.h>

const char *const health_result_names[] = {
    "none",        "ok",         "timeout",       "refused",      "unreachable",
    "reset",       "tls_error",  "bad_status",    "bad_body",     "protocol_error",
    "unresolved",  "passive",    "local_error",   "no_resources", "busy",
    "proxy_error", "wrong_role", "shutting_down", NULL,
};

const unsigned health_bucket_ms[HEALTH_BUCKETS - 1] = {1,   5,   10,   25,   50,  100,
                                                       250, 500, 1000, 2500, 5000};

static void observe(struct health_histogram *h, unsigned ms)
{
    size_t i = 0;
    while (i < HEALTH_BUCKETS - 1 && ms > health_bucket_ms[i])
        i++;
    h->buckets[i]++;
    h->sum_ms += ms;
    h->count++;
}

/* Probes while a server is changing state come this much faster than the interval, so a
 * failing server is confirmed down (or a recovering one up) sooner. */
#define FAST_DIVISOR 4
#define FAST_MIN_MS  50

struct health {
    struct event_base *base; /* main loop */
    health_change_cb cb;     /* told about up/down changes */
    void *cb_arg;
    struct mailbox mbox;            /* wake-ups from workers after a passive down */
    struct health_target **targets; /* every target, to find the pending ones */
    size_t n_targets, cap_targets;
    uint64_t rng;      /* jitter */
    bool short_logged; /* a shortage of descriptors or memory was logged and has not passed */
};

/* The probe code of each kind of CONFIG_CHECK_KINDS (config/config-t.h); none for "none". A
 * unit test sees that every other kind has one. */
const struct health_check_ops *const health_check_kinds[CONFIG_CHECK_COUNT] = {
    [CONFIG_CHECK_TCP] = &check_tcp_ops,     [CONFIG_CHECK_NONE] = NULL,
    [CONFIG_CHECK_TLS] = &check_tls_ops,     [CONFIG_CHECK_HTTP] = &check_http_ops,
    [CONFIG_CHECK_HTTPS] = &check_http_ops,  [CONFIG_CHECK_K3S] = &check_k3s_ops,
    [CONFIG_CHECK_ETCD] = &check_etcd_ops,   [CONFIG_CHECK_POSTGRES] = &check_postgres_ops,
    [CONFIG_CHECK_MYSQL] = &check_mysql_ops,
};

static uint64_t jitter(struct health *h, uint64_t range)
{
    uint64_t r = rand_next(&h->rng);
    return range ? r % range : 0;
}

/* Probes start on a 10 ms grid: with many servers, one wake-up starts several probes instead
 * of one each, and a probe is never more than 10 ms late. */
#define GRID_MS 10

static void arm(struct health_target *t, uint64_t ms)
{
    uint64_t now = clock_now_ms(), at = (now + ms + GRID_MS - 1) / GRID_MS * GRID_MS;
    ms = at - now;
    t->next_ms = at;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(t->timer, &tv);
}

/* Next probe: the interval for a stable up server, down_interval for a stable down one, faster
 * while changing state; +-5% jitter keeps many servers from probing in lockstep. */
static void schedule_next(struct health_target *t)
{
    uint64_t base = t->checked_up ? t->p.interval_ms : t->p.down_interval_ms;
    if (t->fall_count || t->rise_count) {
        base = t->p.interval_ms / FAST_DIVISOR;
        if (base < FAST_MIN_MS)
            base = FAST_MIN_MS;
    }
    arm(t, base - base / 20 + jitter(t->engine, base / 10 + 1));
}

/* The first target t needs that is down, or NULL when all are up. */
static const struct health_target *blocker(const struct health_target *t)
{
    for (size_t i = 0; i < t->n_needs; i++)
        if (!t->needs[i]->published)
            return t->needs[i];
    return NULL;
}

static void publish(struct health_target *t, const char *why);

/* Targets that need t follow it. The requires of the config are checked to form no circle. */
static void publish_dependents(struct health_target *t)
{
    struct health *h = t->engine;
    for (size_t i = 0; i < h->n_targets; i++)
        for (size_t j = 0; j < h->targets[i]->n_needs; j++)
            if (h->targets[i]->needs[j] == t) {
                publish(h->targets[i], NULL);
                break;
            }
}

/* Makes the state workers read what checked_up and the needed targets say, and tells about a
 * change. why: what changed in its own verdict, or NULL when a target it requires changed. A
 * server whose own checks pass but that waits for another says so when its own verdict
 * comes. */
static void publish(struct health_target *t, const char *why)
{
    const struct health_target *b = blocker(t);
    bool up = t->checked_up && !b && !t->missing && !t->agent_down;
    char req[320];
    if (up == t->published) {
        if (why && t->checked_up && !up) /* its own checks passed, yet it waits */
            log_info("server_waiting", "%s: %s, but it stays down: %s%s%s", t->label, why,
                     t->missing ? t->missing : "it requires ", b ? b->label : "",
                     b ? ", which is down" : "");
        return;
    }
    if (t->checked_up && !up && b) { /* held down by what it requires */
        snprintf(req, sizeof(req), "it requires %s, which is down", b->label);
        why = req;
    } else if (t->checked_up && !up && t->missing) {
        why = t->missing;
    } else if (!why) {
        why = "what it requires is up again";
    }
    t->published = up;
    if (up)
        atomic_store(&t->up_at_ms, clock_now_ms());
    if (up && t->was_up) /* a recovery, not the first time up (as HAProxy's slowstart) */
        atomic_store(&t->recovered_at_ms, clock_now_ms());
    t->was_up = t->was_up || up;
    atomic_store(&t->up, up && !atomic_load(&t->passive_pending));
    t->since_ms = clock_now_ms();
    t->transitions++;
    if (up)
        log_info("server_up", "%s is up: %s", t->label, why);
    else
        log_warn("server_down", "%s is down: %s", t->label, why);
    t->engine->cb(t->engine->cb_arg, t, up ? HEALTH_EVENT_UP : HEALTH_EVENT_DOWN);
    publish_dependents(t);
}

static void set_state(struct health_target *t, bool up, const char *why)
{
    t->checked_up = up;
    atomic_store(&t->passive_fails, 0);
    t->rise_count = t->fall_count = 0;
    publish(t, why);
}

static void probe_free(struct health_probe *p)
{
    const struct health_check_ops *ops = health_check_kinds[p->t->p.kind];
    if (ops && ops->abort)
        ops->abort(p);
    if (p->io)
        event_free(p->io);
    if (p->fd >= 0)
        net_close_reset(p->fd);
    if (p->bev)
        bufferevent_free(p->bev); /* closes its socket and frees its TLS state */
    free(p->ctx);
    event_free(p->deadline);
    p->t->probe = NULL;
    free(p);
}

void health_record(struct health_target *t, enum health_result r, const char *detail)
{
    char why[320];
    if (r == HEALTH_RESULT_NO_RESOURCES) {
        /* Our shortage, not the server's: the last real verdict stands, and the shortage is
         * logged once per episode (it passes when descriptors are free again). */
        if (!t->engine->short_logged)
            log_warn("health_no_resources",
                     "probes cannot run: %s; server states are kept until they can", detail);
        t->engine->short_logged = true;
        return;
    }
    if (r == HEALTH_RESULT_BUSY) {
        /* An answer, so the server lives; a refusal to do the work, so it is not a pass
         * either. Its state stands until a real verdict. */
        snprintf(t->detail, sizeof(t->detail), "%s", detail ? detail : "busy");
        t->checks++;
        return;
    }
    if (t->engine->short_logged) {
        t->engine->short_logged = false;
        log_info("health_no_resources", "probes run again");
    }
    t->last = r;
    snprintf(t->detail, sizeof(t->detail), "%s", detail ? detail : health_result_names[r]);
    t->checks++;
    if (r == HEALTH_RESULT_OK) {
        t->fall_count = 0;
        atomic_store(&t->passive_fails, 0);
        if (!t->checked_up && ++t->rise_count >= t->p.rise) {
            snprintf(why, sizeof(why), "%u check%s passed (%s)", t->p.rise,
                     t->p.rise > 1 ? "s" : "", t->detail);
            set_state(t, true, why);
        }
    } else {
        t->rise_count = 0;
        if (r == HEALTH_RESULT_SHUTTING_DOWN)
            t->fall_count = t->p.fall - 1; /* said by the server itself: no need to confirm */
        if (t->checked_up && ++t->fall_count >= t->p.fall) {
            if (r == HEALTH_RESULT_SHUTTING_DOWN)
                snprintf(why, sizeof(why), "%s; its connections end as it ends them", t->detail);
            else
                snprintf(why, sizeof(why), "%u check%s failed: %s", t->p.fall,
                         t->p.fall > 1 ? "s" : "", t->detail);
            set_state(t, false, why);
        }
    }
}

/* SAN guard findings are logged when they appear or change, not at every probe. */
static void report_san(struct health_target *t)
{
    if (strcmp(t->san_warning, t->san_logged) == 0)
        return;
    if (t->san_warning[0])
        log_warn("san_guard", "%s", t->san_warning);
    else
        log_info("san_guard", "certificate of %s now covers every tls_san name", t->label);
    snprintf(t->san_logged, sizeof(t->san_logged), "%s", t->san_warning);
}

void health_probe_done(struct health_probe *p, enum health_result r, const char *fmt, ...)
{
    struct health_target *t = p->t;
    char detail[256] = "";
    va_list ap;

    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    t->latency_ms = (unsigned)(clock_now_ms() - p->start_ms);
    observe(&t->durations, t->latency_ms);
    probe_free(p);
    bool was_up = t->published;
    health_record(t, r, fmt ? detail : NULL);
    report_san(t);
    schedule_next(t);
    if (t->published == was_up)
        t->engine->cb(t->engine->cb_arg, t, HEALTH_EVENT_PROBE);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct health_probe *p = arg;
    char d[32];
    (void)fd;
    (void)what;
    config_format_duration(p->t->p.timeout_ms, d, sizeof(d));
    health_probe_done(p, HEALTH_RESULT_TIMEOUT, "no answer within %s", d);
}

struct event_base *health_target_base(const struct health_target *t)
{
    return t->engine->base;
}

void health_target_republish(struct health_target *t, const char *why)
{
    publish(t, why);
}

static void probe_start(evutil_socket_t fd, short what, void *arg)
{
    struct health_target *t = arg;
    const struct health_check_ops *ops = health_check_kinds[t->p.kind];
    struct health_probe *p;
    struct timeval tv;
    (void)fd;
    (void)what;

    t->skip_done = false;
    if (!ops)
        return;
    if (!t->addr.len || t->p.setup_error) {
        if (t->addr.len)
            health_record(t, HEALTH_RESULT_LOCAL_ERROR, t->p.setup_error);
        else
            health_record(t, HEALTH_RESULT_UNRESOLVED,
                          "the server's host name has no address (yet)");
        schedule_next(t);
        return;
    }
    p = xcalloc(1, sizeof(*p));
    p->t = t;
    p->base = t->engine->base;
    p->fd = -1;
    p->start_ms = clock_now_ms();
    p->deadline = evtimer_new(p->base, deadline_cb, p);
    tv.tv_sec = (time_t)(t->p.timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(t->p.timeout_ms % 1000) * 1000;
    evtimer_add(p->deadline, &tv);
    t->probe = p;
    ops->start(p);
}

/* Without active checks, a server taken down by connect failures gets another chance after
 * down_interval: nothing else could ever bring it back. */
static void readmit(struct health_target *t)
{
    if (!t->checked_up)
        set_state(t, true, "down_interval passed (no active check configured)");
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct health_target *t = arg;
    if (t->paused)
        return;
    if (t->p.kind == CONFIG_CHECK_NONE)
        readmit(t);
    else
        probe_start(fd, what, arg);
}

/* A worker took a target down; report it here, once, on the main thread. */
static void report_passive(struct health_target *t)
{
    char why[256];
    snprintf(why, sizeof(why), "%u consecutive connect failure%s of client traffic",
             t->p.passive_fall, t->p.passive_fall == 1 ? "" : "s");
    t->last = HEALTH_RESULT_PASSIVE;
    snprintf(t->detail, sizeof(t->detail), "%s", why);
    set_state(t, false, why);
    if (t->probe)
        return; /* the probe in flight reschedules when it ends */
    evtimer_del(t->timer);
    schedule_next(t); /* for kind none, this is when readmit() runs */
}

static void on_wake(void *arg, int type, void *ptr)
{
    struct health *h = arg;
    (void)type;
    (void)ptr;
    for (size_t i = 0; i < h->n_targets; i++)
        if (atomic_exchange(&h->targets[i]->passive_pending, false))
            report_passive(h->targets[i]);
}

void health_report_connect(struct health_target *t, bool ok, uint64_t started_ms)
{
    if (!ok && started_ms < atomic_load_explicit(&t->up_at_ms, memory_order_relaxed))
        return;
    if (ok) {
        if (atomic_load_explicit(&t->passive_fails, memory_order_relaxed))
            atomic_store_explicit(&t->passive_fails, 0, memory_order_relaxed);
        return;
    }
    unsigned n = atomic_fetch_add(&t->passive_fails, 1) + 1;
    if (n < t->p.passive_fall)
        return;
    bool was_up = true;
    if (atomic_compare_exchange_strong(&t->up, &was_up, false)) {
        atomic_store(&t->passive_pending, true);
        mailbox_post(&t->engine->mbox, 0, NULL);
    }
}

struct health *health_new(struct event_base *base, health_change_cb cb, void *arg)
{
    struct health *h = xcalloc(1, sizeof(*h));
    h->base = base;
    h->cb = cb;
    h->cb_arg = arg;
    h->rng = rand_seed(0);
    if (mailbox_init(&h->mbox, base, on_wake, h) < 0) {
        free(h);
        return NULL;
    }
    return h;
}

void health_free(struct health *h)
{
    if (!h)
        return;
    mailbox_close(&h->mbox);
    free(h->targets);
    free(h);
}

struct health_target *health_target_new(struct health *h, const char *label,
                                        const struct config_health *cfg,
                                        const struct health_endpoint *ep, void *owner)
{
    struct health_target *t = xcalloc(1, sizeof(*t));
    t->checked_up = t->published = !(ep->start_down && cfg->kind != CONFIG_CHECK_NONE);
    atomic_init(&t->up, t->published);
    atomic_init(&t->up_at_ms, clock_now_ms());
    atomic_init(&t->agent_weight_pct, -1);
    t->was_up = t->published;
    t->engine = h;
    t->owner = owner;
    t->label = xstrdup(label);
    t->host = xstrdup(ep->host ? ep->host : "");
    t->addr = *ep->addr;
    t->tunnel_target = ep->tunnel_target;
    t->tunnel_auth = ep->tunnel_auth;
    t->since_ms = clock_now_ms();
    health_params_build(&t->p, cfg, ep);
    if (t->p.setup_error)
        log_error("check_setup", "%s: %s", t->label, t->p.setup_error);
    t->timer = evtimer_new(h->base, timer_cb, t);
    if (h->n_targets == h->cap_targets) {
        h->cap_targets = h->cap_targets ? h->cap_targets * 2 : 16;
        h->targets = xreallocarray(h->targets, h->cap_targets, sizeof(*h->targets));
    }
    h->targets[h->n_targets++] = t;
    if (t->p.kind != CONFIG_CHECK_NONE)
        arm(t, jitter(h, t->p.interval_ms)); /* spread first probes over one interval */
    health_agent_configure(t, &cfg->agent);
    return t;
}

/* The contexts learnt by probes (a K3s CA, the API server's with its client certificate). */
static void forget_trust(struct health_target *t)
{
    if (t->pinned)
        SSL_CTX_free(t->pinned);
    if (t->apiserver_ctx)
        SSL_CTX_free(t->apiserver_ctx);
    t->pinned = t->apiserver_ctx = t->apiserver_for = NULL;
}

void health_target_configure(struct health_target *t, const struct config_health *cfg,
                             const struct health_endpoint *ep)
{
    struct health_params old = t->p;
    bool same;
    if (t->probe)
        probe_free(t->probe); /* it used the parameters being replaced */
    health_params_build(&t->p, cfg, ep);
    health_agent_configure(t, &cfg->agent);
    same = health_params_same_schedule(&old, &t->p);
    health_params_free(&old);
    health_stream_drop_kept(t); /* opened with the old TLS settings */
    forget_trust(t);            /* the token or the CA may have changed: learn them again */
    if (t->p.setup_error)
        log_error("check_setup", "%s: %s", t->label, t->p.setup_error);
    if (same && evtimer_pending(t->timer, NULL))
        return;
    evtimer_del(t->timer);
    if (t->p.kind != CONFIG_CHECK_NONE)
        arm(t, jitter(t->engine, t->p.interval_ms));
}

void health_target_require(struct health_target *t, struct health_target *const *needs, size_t n,
                           const char *missing)
{
    free(t->needs);
    free(t->missing);
    t->needs = n ? xreallocarray(NULL, n, sizeof(*t->needs)) : NULL;
    if (n)
        memcpy(t->needs, needs, n * sizeof(*needs));
    t->n_needs = n;
    t->missing = missing ? xstrdup(missing) : NULL;
    publish(t, NULL);
}

/* No target may keep pointing at one that goes away. */
static void forget_needed(struct health *h, const struct health_target *gone)
{
    for (size_t i = 0; i < h->n_targets; i++) {
        struct health_target *d = h->targets[i];
        for (size_t j = 0; j < d->n_needs; j++)
            if (d->needs[j] == gone)
                d->needs[j--] = d->needs[--d->n_needs];
    }
}

void health_target_free(struct health_target *t)
{
    struct health *h = t->engine;
    if (t->probe)
        probe_free(t->probe);
    health_agent_free(t);
    for (size_t i = 0; i < h->n_targets; i++)
        if (h->targets[i] == t) {
            h->targets[i] = h->targets[--h->n_targets];
            break;
        }
    forget_needed(h, t);
    free(t->needs);
    free(t->missing);
    event_free(t->timer);
    health_stream_drop_kept(t);
    health_params_free(&t->p);
    forget_trust(t);
    free(t->label);
    free(t->host);
    free(t);
}

void health_target_answered(struct health_target *t)
{
    uint64_t now = clock_now_ms();
    if (t->probe || t->paused || !t->checked_up || t->fall_count || t->rise_count ||
        t->p.kind == CONFIG_CHECK_NONE || t->skip_done || t->next_ms < now)
        return;
    /* The answer stands in for the probe now due: that one is skipped, the one after keeps its
     * time, so the server sees the same number of requests as with probes alone. */
    t->skip_done = true;
    evtimer_del(t->timer);
    arm(t, t->next_ms - now + t->p.interval_ms);
}

void health_target_status(const struct health_target *t, struct health_status *out)
{
    out->up = health_is_up(t);
    out->kind = config_check_kind_names[t->p.kind];
    out->result = t->last;
    out->detail = t->detail[0] ? t->detail : "not checked yet";
    out->latency_ms = t->latency_ms;
    out->since_ms = clock_now_ms() - t->since_ms;
    out->checks = t->checks;
    out->transitions = t->transitions;
    out->san_warning = t->san_warning[0] ? t->san_warning : NULL;
    out->waiting = NULL;
    if (t->checked_up && !t->published)
        out->waiting = t->missing ? t->missing : blocker(t) ? blocker(t)->label : NULL;
    out->durations = &t->durations;
}

void health_target_pause(struct health_target *t, bool paused)
{
    if (paused == t->paused)
        return;
    t->paused = paused;
    if (t->probe)
        probe_free(t->probe);
    evtimer_del(t->timer);
    if (!paused && t->p.kind != CONFIG_CHECK_NONE)
        arm(t, jitter(t->engine, t->p.interval_ms / 10 + 1));
}

void health_target_set_addr(struct health_target *t, const struct net_sockaddr *addr)
{
    t->addr = *addr;
}
