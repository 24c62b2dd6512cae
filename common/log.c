/* Logging: formats a record into one stack buffer and writes it to stderr at once.
 * The level and format are set once at start (and on reload) and read without locks.
 * Each value has a cap on what it may add, so a record always fits and a JSON record is
 * always whole. Under systemd (stderr is the journal's stream) each line starts with its
 * syslog priority, "<3>" to "<7>", which journald files the line under and strips. */
#include "common/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
const char *const log_format_names[] = {"text", "json", NULL};

static _Atomic int log_min_level = LOG_LEVEL_INFO;
static _Atomic int log_out_format = LOG_FORMAT_TEXT;
static atomic_bool log_journal; /* stderr is journald's stream: lines carry a priority */

/* What one value may add to a record (escapes included); a longer one is cut and says so. */
#define LOG_EVENT_MAX  64
#define LOG_MSG_MAX    2048
#define LOG_KEY_MAX    64
#define LOG_VALUE_MAX  512
#define LOG_FIELDS_MAX 16 /* key=value pairs after the message; more are left out */
#define LOG_CUT        "...(cut)"
/* Room for the largest record those caps allow: timestamp, level, quotes and separators take
 * under 128 bytes, each value its cap plus the cut mark. */
#define LOG_LINE_MAX                                                                               \
    (128 + LOG_EVENT_MAX + LOG_MSG_MAX + LOG_FIELDS_MAX * (LOG_KEY_MAX + LOG_VALUE_MAX + 8) +      \
     (2 + 2 * LOG_FIELDS_MAX) * sizeof(LOG_CUT))

/* systemd sets JOURNAL_STREAM to the device and inode of the stream it connected: only when
 * stderr is that very stream are priorities written (not when stderr was redirected). */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char end;
    if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(enum log_level level, enum log_format format)
{
    atomic_store(&log_min_level, (int)level);
    atomic_store(&log_out_format, (int)format);
    atomic_store(&log_journal, stderr_is_journal());
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

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. Overlong forms and
 * surrogates count as invalid. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xe0 && s[0] <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[0] == 0xe0 && s[1] < 0xa0) ||
            (s[0] == 0xed && s[1] >= 0xa0))
            return 0;
        return 3;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80 ||
            (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

/* Appends text a peer may have chosen (an error message from a database, a certificate name)
 * so that it can never end the line, start a forged one, or drive a terminal: control
 * characters (C0, DEL and the C1 range) and bytes that are not UTF-8 are escaped, in JSON as
 * \uXXXX (invalid bytes as U+FFFD), in text as \n, \r, \t or \xNN (and "\" as "\\", so
 * an escape cannot be faked). Quotes are escaped in JSON only. */
static void buf_put_safe(struct log_buf *b, const char *str, bool json, size_t cap)
{
    const unsigned char *s = (const unsigned char *)str;
    char esc[12];
    size_t limit = b->n + cap;
    while (*s) {
        size_t n = utf8_len(s);
        if (b->n + 8 > limit) { /* 8: the longest escape of one sequence (\xc2\x9b) */
            buf_puts(b, LOG_CUT);
            return;
        }
        unsigned c = *s;
        bool c1 = n == 2 && s[0] == 0xc2 && s[1] < 0xa0; /* U+0080..U+009F */
        if (n == 0 || c1) {
            if (json && c1) {
                snprintf(esc, sizeof(esc), "\\u%04x", s[1]);
                buf_puts(b, esc);
            } else if (json) {
                buf_puts(b, "\\ufffd");
            } else {
                for (size_t i = 0; i < (c1 ? 2u : 1u); i++) {
                    snprintf(esc, sizeof(esc), "\\x%02x", s[i]);
                    buf_puts(b, esc);
                }
            }
            s += c1 ? 2 : 1;
            continue;
        }
        if (c == '\\' || (json && c == '"')) {
            esc[0] = '\\';
            esc[1] = (char)c;
            buf_put(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            if (json)
                snprintf(esc, sizeof(esc), "\\u%04x", c);
            else if (c == '\n' || c == '\r' || c == '\t')
                snprintf(esc, sizeof(esc), "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
            else
                snprintf(esc, sizeof(esc), "\\x%02x", c);
            buf_puts(b, esc);
        } else {
            buf_put(b, (const char *)s, n);
        }
        s += n;
    }
}

static void buf_put_json(struct log_buf *b, const char *s, size_t cap)
{
    buf_put_safe(b, s, true, cap);
}

/* Appends a text-format value, quoted when it holds spaces or quotes. */
static void buf_put_text_value(struct log_buf *b, const char *v)
{
    if (*v && !strpbrk(v, " \"=\t")) {
        buf_put_safe(b, v, false, LOG_VALUE_MAX);
        return;
    }
    buf_puts(b, "\"");
    buf_put_json(b, v, LOG_VALUE_MAX);
    buf_puts(b, "\"");
}

/* syslog priorities (sd-daemon.h's SD_DEBUG..SD_ERR) by level */
static const char *const journal_prefix[] = {"<7>", "<6>", "<4>", "<3>"};

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
    char msg[LOG_MSG_MAX + 1];
    static _Thread_local struct log_buf b; /* large: not on the stack of every caller */
    bool json = atomic_load_explicit(&log_out_format, memory_order_relaxed) == LOG_FORMAT_JSON;
    size_t fields = 0;

    b.n = 0;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (atomic_load_explicit(&log_journal, memory_order_relaxed))
        buf_puts(&b, journal_prefix[level]);
    if (json) {
        buf_puts(&b, "{\"ts\":\"");
        buf_put_time(&b);
        buf_puts(&b, "\",\"level\":\"");
        buf_puts(&b, log_level_names[level]);
        buf_puts(&b, "\",\"event\":\"");
        buf_put_json(&b, event, LOG_EVENT_MAX);
        buf_puts(&b, "\",\"msg\":\"");
        buf_put_json(&b, msg, LOG_MSG_MAX);
        buf_puts(&b, "\"");
        for (; kv && kv[0] && kv[1] && fields++ < LOG_FIELDS_MAX; kv += 2) {
            buf_puts(&b, ",\"");
            buf_put_json(&b, kv[0], LOG_KEY_MAX);
            buf_puts(&b, "\":\"");
            buf_put_json(&b, kv[1], LOG_VALUE_MAX);
            buf_puts(&b, "\"");
        }
        buf_puts(&b, "}");
    } else {
        buf_put_time(&b);
        buf_puts(&b, " ");
        buf_puts(&b, log_level_names[level]);
        buf_puts(&b, " ");
        buf_put_safe(&b, event, false, LOG_EVENT_MAX);
        buf_puts(&b, ": ");
        buf_put_safe(&b, msg, false, LOG_MSG_MAX);
        for (; kv && kv[0] && kv[1] && fields++ < LOG_FIELDS_MAX; kv += 2) {
            buf_puts(&b, " ");
            buf_put_safe(&b, kv[0], false, LOG_KEY_MAX);
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

bool log_rate_allow(struct log_rate *r, uint64_t now_ms, const char **more)
{
    if (r->last_ms && now_ms - r->last_ms < 1000) {
        r->quiet++;
        return false;
    }
    *more = r->quiet ? " (and others in the last second)" : "";
    r->last_ms = now_ms;
    r->quiet = 0;
    return true;
}
