/* agent-check: asking each server's agent, reading its answer, and holding what it said where
 * workers read it. The answer is a line of words (HAProxy's agent protocol): N% sets the weight
 * to that share of the configured one; ready, drain and maint set the admin state, the stronger
 * of the operator's and the agent's holding; down (failed, stopped) holds the server down until
 * up; maxconn:N sets its limit; '#' starts a description. */
#include "health/agent.h"
#include "common/clock.h"
#include "common/xalloc.h"

#include "health/check.h"
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct health_agent {
    struct health_target *t;
    struct event *timer;                      /* the next question */
    struct bufferevent *bev;                  /* the question under way, or NULL */
    unsigned port;                            /* the agent's port */
    uint64_t interval_ms;                     /* between questions */
    uint64_t timeout_ms;                      /* for an answer */
    char *send;                               /* sent first, or NULL */
    char detail[HEALTH_AGENT_LINE_MAX + 160]; /* the last answer, or why there is none */
};

/* ---- the answer's words --------------------------------------------------------------------- */

static bool separator(char ch)
{
    return ch == ' ' || ch == '\t' || ch == ',';
}

/* A decimal number of at most 7 digits, all of w (n bytes); -1 when it is not. */
static long number(const char *w, size_t n)
{
    long v = 0;
    if (n == 0 || n > 7)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (w[i] < '0' || w[i] > '9')
            return -1;
        v = v * 10 + (w[i] - '0');
    }
    return v;
}

static bool word_is(const char *w, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(w, name, n) == 0;
}

/* One word into r: false when it is no word of the protocol. */
static bool word(const char *w, size_t n, struct health_agent_reply *r)
{
    long v;
    if (word_is(w, n, "up")) {
        r->up = 1;
    } else if (word_is(w, n, "down") || word_is(w, n, "failed") || word_is(w, n, "fail") ||
               word_is(w, n, "stopped")) {
        r->up = 0;
    } else if (word_is(w, n, "ready")) {
        r->admin = HEALTH_AGENT_READY;
    } else if (word_is(w, n, "drain")) {
        r->admin = HEALTH_AGENT_DRAIN;
    } else if (word_is(w, n, "maint")) {
        r->admin = HEALTH_AGENT_MAINT;
    } else if (n > 1 && w[n - 1] == '%' && (v = number(w, n - 1)) >= 0 && v <= 100) {
        r->weight_pct = (int)v;
    } else if (n > 8 && strncasecmp(w, "maxconn:", 8) == 0 && (v = number(w + 8, n - 8)) >= 0 &&
               v <= 1000000) {
        r->maxconn = v;
    } else {
        return false;
    }
    return true;
}

/* The description after '#': printable characters, trimmed. */
static void description(const char *s, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    for (size_t i = 0; i < n && k + 1 < outlen; i++)
        out[k++] = isprint((unsigned char)s[i]) ? s[i] : '?';
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

int health_agent_parse(const char *line, size_t len, struct health_agent_reply *r, char *err,
                       size_t errlen)
{
    *r = (struct health_agent_reply){.weight_pct = -1, .admin = -1, .up = -1, .maxconn = -1};
    if (memchr(line, '\0', len)) {
        snprintf(err, errlen, "a NUL byte in the answer");
        return -1;
    }
    for (size_t i = 0; i < len;) {
        size_t start;
        while (i < len && separator(line[i]))
            i++;
        if (i == len)
            break;
        if (line[i] == '#') {
            description(line + i + 1, len - i - 1, r->why, sizeof(r->why));
            break;
        }
        for (start = i; i < len && !separator(line[i]); i++)
            ;
        if (!word(line + start, i - start, r)) {
            char w[40];
            description(line + start, i - start < sizeof(w) - 1 ? i - start : sizeof(w) - 1, w,
                        sizeof(w));
            snprintf(err, errlen, "unknown word '%s'", w);
            return -1;
        }
    }
    return 0;
}

/* ---- asking ---------------------------------------------------------------------------------- */

static void agent_arm(struct health_agent *a, uint64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(a->timer, &tv);
}

static void agent_close(struct health_agent *a)
{
    if (a->bev)
        bufferevent_free(a->bev);
    a->bev = NULL;
}

/* The question ended without an answer: nothing changes. */
static void agent_unanswered(struct health_agent *a, const char *why)
{
    snprintf(a->detail, sizeof(a->detail), "no answer: %s", why);
    agent_close(a);
    agent_arm(a, a->interval_ms);
}

/* Makes what r says hold, and tells of a change. */
static void agent_apply(struct health_agent *a, const struct health_agent_reply *r)
{
    struct health_target *t = a->t;
    char why[200];
    if (r->weight_pct >= 0 && atomic_exchange(&t->agent_weight_pct, r->weight_pct) != r->weight_pct)
        log_info("agent_weight", "%s: its agent sets the weight to %d%%", t->label, r->weight_pct);
    if (r->admin >= 0 && atomic_exchange(&t->agent_admin, r->admin) != r->admin)
        log_info("agent_admin", "%s: its agent says %s", t->label,
                 r->admin == HEALTH_AGENT_READY   ? "ready"
                 : r->admin == HEALTH_AGENT_DRAIN ? "drain"
                                                  : "maint");
    if (r->maxconn >= 0)
        atomic_store(&t->agent_maxconn, (unsigned)r->maxconn);
    if (r->up >= 0 && t->agent_down == (r->up == 1)) {
        t->agent_down = r->up == 0;
        snprintf(why, sizeof(why), "its agent says %s%s%s", r->up ? "up" : "down",
                 r->why[0] ? ": " : "", r->why);
        health_target_republish(t, why);
    }
}

static void agent_answered(struct health_agent *a, struct evbuffer *in, size_t len)
{
    char line[HEALTH_AGENT_LINE_MAX + 1], err[120], shown[HEALTH_AGENT_LINE_MAX + 1];
    struct health_agent_reply r;
    size_t n = len < HEALTH_AGENT_LINE_MAX ? len : HEALTH_AGENT_LINE_MAX;
    evbuffer_remove(in, line, n);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    description(line, n, shown, sizeof(shown));
    if (health_agent_parse(line, n, &r, err, sizeof(err)) < 0) {
        snprintf(a->detail, sizeof(a->detail), "a bad answer '%s': %s", shown, err);
        log_warn("agent_answer", "%s: %s", a->t->label, a->detail);
    } else {
        snprintf(a->detail, sizeof(a->detail), "answered '%s'", shown);
        agent_apply(a, &r);
    }
    agent_close(a);
    agent_arm(a, a->interval_ms);
}

static void agent_read(struct bufferevent *bev, void *arg)
{
    struct health_agent *a = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_ANY);
    if (eol.pos >= 0)
        agent_answered(a, in, (size_t)eol.pos + 1);
    else if (evbuffer_get_length(in) >= HEALTH_AGENT_LINE_MAX)
        agent_answered(a, in, HEALTH_AGENT_LINE_MAX);
}

static void agent_event(struct bufferevent *bev, short what, void *arg)
{
    struct health_agent *a = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (what & BEV_EVENT_CONNECTED) {
        if (a->send)
            bufferevent_write(bev, a->send, strlen(a->send));
        return;
    }
    if ((what & BEV_EVENT_EOF) && evbuffer_get_length(in)) {
        agent_answered(a, in, evbuffer_get_length(in)); /* a line without its end */
        return;
    }
    agent_unanswered(a, what & BEV_EVENT_TIMEOUT ? "timed out"
                        : what & BEV_EVENT_EOF   ? "closed without a word"
                                                 : strerror(EVUTIL_SOCKET_ERROR()));
}

static void agent_ask(evutil_socket_t fd, short what, void *arg)
{
    struct health_agent *a = arg;
    struct net_sockaddr sa;
    struct timeval tv = {.tv_sec = (time_t)(a->timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(a->timeout_ms % 1000) * 1000};
    (void)fd;
    (void)what;
    health_target_addr(a->t, a->port, &sa);
    if (!sa.len || a->t->tunnel_target) {
        agent_unanswered(a, a->t->tunnel_target ? "not asked through an http_proxy"
                                                : "the server's address is not known yet");
        return;
    }
    a->bev = bufferevent_socket_new(health_target_base(a->t), -1, BEV_OPT_CLOSE_ON_FREE);
    if (!a->bev) {
        agent_unanswered(a, "out of memory");
        return;
    }
    bufferevent_setcb(a->bev, agent_read, NULL, agent_event, a);
    bufferevent_set_timeouts(a->bev, &tv, &tv);
    bufferevent_enable(a->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(a->bev, &sa.u.sa, (int)sa.len) < 0)
        agent_unanswered(a, strerror(errno));
}

/* What the agent said stops holding (the agent-check is removed). */
static void agent_forget(struct health_target *t)
{
    atomic_store(&t->agent_weight_pct, -1);
    atomic_store(&t->agent_admin, HEALTH_AGENT_READY);
    atomic_store(&t->agent_maxconn, 0);
    if (t->agent_down) {
        t->agent_down = false;
        health_target_republish(t, "its agent-check is removed");
    }
}

void health_agent_free(struct health_target *t)
{
    struct health_agent *a = t->agent;
    if (!a)
        return;
    agent_close(a);
    event_free(a->timer);
    free(a->send);
    free(a);
    t->agent = NULL;
}

void health_agent_configure(struct health_target *t, const struct config_agent_check *cfg)
{
    struct health_agent *a = t->agent;
    if (!cfg->enabled) {
        if (a) {
            health_agent_free(t);
            agent_forget(t);
        }
        return;
    }
    if (!a) {
        a = t->agent = xcalloc(1, sizeof(*a));
        a->t = t;
        a->timer = evtimer_new(health_target_base(t), agent_ask, a);
        snprintf(a->detail, sizeof(a->detail), "not asked yet");
    }
    free(a->send);
    a->send = cfg->send ? xstrdup(cfg->send) : NULL;
    a->port = cfg->port;
    a->interval_ms = cfg->interval_ms;
    a->timeout_ms = cfg->timeout_ms;
    if (!a->bev) {
        evtimer_del(a->timer);
        agent_arm(a, a->interval_ms / 10); /* soon, and not with every other server at once */
    }
}

const char *health_agent_detail(const struct health_target *t)
{
    return t->agent ? t->agent->detail : NULL;
}
