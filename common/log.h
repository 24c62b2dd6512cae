/* Logging to stderr, one line per record, as text or JSON.
 *
 * Every record is formatted into one buffer and written with a single write(2), so lines from
 * worker threads never interleave. Callers pass key/value fields instead of free text where a
 * machine will read them (JSON format keeps them as separate members). */
#ifndef K3LB_COMMON_LOG_H
#define K3LB_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
};

enum log_format {
    LOG_FORMAT_TEXT = 0,
    LOG_FORMAT_JSON,
};

extern const char *const log_level_names[];
extern const char *const log_format_names[];

void log_setup(enum log_level level, enum log_format format);

/* One line a second at most for a kind of event a peer can repeat at will (bad headers,
 * refused sources): keep one per kind and thread. */
struct log_rate {
    uint64_t last_ms; /* when the last line went out (monotonic), 0: never */
    unsigned quiet;   /* events since, not logged */
};
/* True when a line may go out at now_ms; *more is then " (and others in the last second)" or
 * "", for the line's end. False: the event is counted for the next line. */
bool log_rate_allow(struct log_rate *r, uint64_t now_ms, const char **more);
bool log_enabled(enum log_level level);

/* Logs one record. "fmt" is the human message; the variadic tail after it is a NULL-terminated
 * list of key, value string pairs appended as fields. Use the macros below. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, with explicit fields: keys and values are NULL-terminated parallel arrays. */
void log_fields(enum log_level level, const char *event, const char *const *kv, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

#define log_debug(ev, ...)                                                                         \
    do {                                                                                           \
        if (log_enabled(LOG_LEVEL_DEBUG))                                                          \
            log_msg(LOG_LEVEL_DEBUG, ev, __VA_ARGS__);                                             \
    } while (0)
#define log_info(ev, ...)  log_msg(LOG_LEVEL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_msg(LOG_LEVEL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_msg(LOG_LEVEL_ERROR, ev, __VA_ARGS__)

#endif
