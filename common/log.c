/* Logging: formats a record into one stack buffer and writes it to stderr at once.
 * The level and format are set once at start (and on reload) and read without locks. */
#include "common/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
const char *const log_format_names[] = {"text", "json", NULL};

static _Atomic int log_min_level = LOG_LEVEL_INFO;
static _Atomic int log_out_format = LOG_FORMAT_TEXT;

/* A record longer than this is cut; log lines are meant to be short. */
#define LOG_LINE_MAX 2048

void log_setup(enum log_level level, enum log_format format)
{
    atomic_store(&log_min_level, (int)level);
    atomic_store(&log_out_format, (int)format);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

struct log_buf {
    char s[LOG_LINE_MAX];
    size_t n;
};

static void buf_put(struct log_buf *b, const char *s, size_t len)
{
    size_t room = sizeof(b->s) - 2 - b->n; /* keep space for "\n" and NUL */
    if (len > room)
        len = room;
    memcpy(b->s + b->n, s, len);
    b->n += len;
}

static void buf_puts(struct log_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Appends s as the inside of a JSON string. */
static void buf_put_json(struct log_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            buf_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            buf_puts(b, esc);
        } else {
            buf_put(b, (const char *)&c, 1);
        }
    }
}

/* Appends a text-format value, quoted when it holds spaces or quotes. */
static void buf_put_text_value(struct log_buf *b, const char *v)
{
    if (*v && !strpbrk(v, " \"=\t")) {
        buf_puts(b, v);
        return;
    }
    buf_puts(b, "\"");
    buf_put_json(b, v);
    buf_puts(b, "\"");
}

static void buf_put_time(struct log_buf *b)
{
    struct timeval tv;
    struct tm tm;
    char ts[40];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    buf_puts(b, ts);
}

static void log_emit(enum log_level level, const char *event, const char *const *kv,
                     const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void log_emit(enum log_level level, const char *event, const char *const *kv,
                     const char *fmt, va_list ap)
{
    char msg[LOG_LINE_MAX / 2];
    struct log_buf b = {.n = 0};
    bool json = atomic_load_explicit(&log_out_format, memory_order_relaxed) == LOG_FORMAT_JSON;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (json) {
        buf_puts(&b, "{\"ts\":\"");
        buf_put_time(&b);
        buf_puts(&b, "\",\"level\":\"");
        buf_puts(&b, log_level_names[level]);
        buf_puts(&b, "\",\"event\":\"");
        buf_put_json(&b, event);
        buf_puts(&b, "\",\"msg\":\"");
        buf_put_json(&b, msg);
        buf_puts(&b, "\"");
        for (; kv && kv[0] && kv[1]; kv += 2) {
            buf_puts(&b, ",\"");
            buf_put_json(&b, kv[0]);
            buf_puts(&b, "\":\"");
            buf_put_json(&b, kv[1]);
            buf_puts(&b, "\"");
        }
        buf_puts(&b, "}");
    } else {
        buf_put_time(&b);
        buf_puts(&b, " ");
        buf_puts(&b, log_level_names[level]);
        buf_puts(&b, " ");
        buf_puts(&b, event);
        buf_puts(&b, ": ");
        buf_puts(&b, msg);
        for (; kv && kv[0] && kv[1]; kv += 2) {
            buf_puts(&b, " ");
            buf_puts(&b, kv[0]);
            buf_puts(&b, "=");
            buf_put_text_value(&b, kv[1]);
        }
    }
    b.s[b.n++] = '\n';
    /* A short write to stderr leaves nothing to recover; the record is dropped. */
    ssize_t unused = write(STDERR_FILENO, b.s, b.n);
    (void)unused;
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
    va_list ap;
    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    log_emit(level, event, NULL, fmt, ap);
    va_end(ap);
}

void log_fields(enum log_level level, const char *event, const char *const *kv, const char *fmt,
                ...)
{
    va_list ap;
    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    log_emit(level, event, kv, fmt, ap);
    va_end(ap);
}
