/* Log lines cannot be forged or made to drive a terminal: text a peer chose (a database's
 * error, a certificate name) is escaped in both formats, and every record stays one line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Runs one log call with stderr captured; returns what was written (malloc'd). With journal,
 * JOURNAL_STREAM names the captured stream, as systemd sets it for a service. */
static char *capture_as(enum log_format format, const char *detail, bool journal)
{
    int fds[2], saved = dup(STDERR_FILENO);
    static char buf[65536];
    ssize_t n;
    struct stat st;
    char js[64];
    assert_int_equal(pipe(fds), 0);
    dup2(fds[1], STDERR_FILENO);
    fstat(STDERR_FILENO, &st);
    snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    if (journal)
        setenv("JOURNAL_STREAM", js, 1);
    else
        unsetenv("JOURNAL_STREAM");
    log_setup(LOG_LEVEL_INFO, format);
    const char *kv[] = {"client", detail, NULL};
    log_fields(LOG_LEVEL_WARN, "server_down", kv, "db/10.0.0.1:5432 is down: %s", detail);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    unsetenv("JOURNAL_STREAM");
    log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT); /* stderr is no longer the pipe */
    assert_true(n > 0);
    buf[n] = '\0';
    return strdup(buf);
}

static char *capture(enum log_format format, const char *detail)
{
    return capture_as(format, detail, false);
}

/* A forged second record, a terminal escape, a C1 control, a byte that is not UTF-8. */
static const char hostile[] = "FATAL: no\n2026-11-24T00:00:00.000Z info server_up: db is up"
                              "\r\x1b[2J\x1b]0;owned\x07\xc2\x9b\xff\\x0a ok \xc3\xa9";

static void test_text_is_one_line(void **state)
{
    char *out = capture(LOG_FORMAT_TEXT, hostile);
    (void)state;
    assert_non_null(strchr(out, '\n'));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
    for (const char *p = out; *p; p++)
        assert_true((unsigned char)*p >= 0x20 || *p == '\n');
    assert_non_null(strstr(out, "FATAL: no\\n2026-11-24T00:00:00.000Z info server_up"));
    assert_non_null(strstr(out, "\\r\\x1b[2J\\x1b]0;owned\\x07\\xc2\\x9b\\xff\\\\x0a ok \xc3\xa9"));
    free(out);
}

static void test_json_is_valid_and_one_line(void **state)
{
    char *out = capture(LOG_FORMAT_JSON, hostile);
    cJSON *doc;
    (void)state;
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    for (const char *p = out; *p; p++)
        assert_true((unsigned char)*p >= 0x20 || *p == '\n');
    doc = cJSON_Parse(out);
    assert_non_null(doc);
    const cJSON *client = cJSON_GetObjectItem(doc, "client");
    assert_true(cJSON_IsString(client));
    assert_non_null(strstr(client->valuestring, "\n2026-11-24")); /* kept, as data */
    assert_non_null(strstr(client->valuestring, "\xef\xbf\xbd")); /* the bad byte */
    cJSON_Delete(doc);
    free(out);
}

/* A value far longer than a record may be: each value is cut at its cap, marked, and the JSON
 * record stays whole (it used to be cut at 2048 bytes, mid-string). */
static void test_long_values_keep_json_whole(void **state)
{
    size_t n = 20000;
    char *detail = malloc(n + 1);
    (void)state;
    for (size_t i = 0; i < n; i++)
        detail[i] = "\"\x01\xff"[i % 3]; /* each one escapes to 2 or 6 bytes */
    detail[n] = '\0';
    char *out = capture(LOG_FORMAT_JSON, detail);
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    cJSON *doc = cJSON_Parse(out);
    assert_non_null(doc);
    assert_non_null(strstr(cJSON_GetObjectItem(doc, "msg")->valuestring, "...(cut)"));
    assert_non_null(strstr(cJSON_GetObjectItem(doc, "client")->valuestring, "...(cut)"));
    cJSON_Delete(doc);
    free(out);
    out = capture(LOG_FORMAT_TEXT, detail);
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    assert_non_null(strstr(out, "...(cut)"));
    free(out);
    free(detail);
}

/* Under systemd each line starts with its syslog priority (journald files it so and strips
 * the prefix); a warning is <4>. Not when stderr is something else. */
static void test_journal_priority_prefix(void **state)
{
    (void)state;
    char *out = capture_as(LOG_FORMAT_JSON, "x", true);
    assert_true(strncmp(out, "<4>{", 4) == 0);
    cJSON *doc = cJSON_Parse(out + 3);
    assert_non_null(doc);
    cJSON_Delete(doc);
    free(out);
    out = capture_as(LOG_FORMAT_TEXT, "x", true);
    assert_true(strncmp(out, "<4>20", 5) == 0);
    free(out);
    out = capture(LOG_FORMAT_TEXT, "x");
    assert_true(out[0] != '<');
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_is_one_line),
        cmocka_unit_test(test_json_is_valid_and_one_line),
        cmocka_unit_test(test_long_values_keep_json_whole),
        cmocka_unit_test(test_journal_priority_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
