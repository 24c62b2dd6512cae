/* The health checks' HTTP answer parser: complete, partial, chunked and hostile answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/keys.h"
#include "health/check.h"
#include "health/http.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *text, size_t len, bool eof, struct health_http_response *r,
                 char **keep)
{
    char *buf = malloc(len + 1);
    memcpy(buf, text, len);
    buf[len] = '\0';
    *keep = buf;
    return health_http_parse(buf, len, eof, r);
}

#define PARSE(text, eof, r, keep) parse(text, sizeof(text) - 1, eof, r, keep)

static void test_content_length(void **state)
{
    struct health_http_response r;
    char *b;
    (void)state;
    assert_int_equal(PARSE("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, &r, &b), 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    free(b);
    /* not all there yet */
    assert_int_equal(PARSE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", false, &r, &b), 0);
    free(b);
    /* and never will be */
    assert_int_equal(PARSE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", true, &r, &b), -1);
    free(b);
    assert_int_equal(PARSE("HTTP/1.1 503 No\r\ncontent-length:  3\r\n\r\nbad+extra", false, &r, &b),
                     1);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "bad");
    free(b);
}

static void test_until_eof_and_chunked(void **state)
{
    struct health_http_response r;
    char *b;
    (void)state;
    assert_int_equal(PARSE("HTTP/1.0 200 OK\r\n\r\npong", false, &r, &b), 0);
    free(b);
    assert_int_equal(PARSE("HTTP/1.0 200 OK\r\n\r\npong", true, &r, &b), 1);
    assert_string_equal(r.body, "pong");
    free(b);
    assert_int_equal(PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "4\r\n{\"he\r\n12\r\nalth\":\"true\"}xxxxx\r\n0\r\n\r\n",
                           false, &r, &b),
                     1);
    assert_string_equal(r.body, "{\"health\":\"true\"}xxxxx");
    free(b);
}

static void test_garbage(void **state)
{
    static const char *const bad[] = {
        "SSH-2.0-OpenSSH_9.2\r\n\r\n",
        "HTTP/1.1 99 Low\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/x 200\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\nab\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5",
        "",
        "\r\n\r\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct health_http_response r;
        char *b;
        int rc = parse(bad[i], strlen(bad[i]), true, &r, &b);
        if (rc != -1)
            fail_msg("answer %zu parsed as %d", i, rc);
        free(b);
    }
}

/* A server that keeps the connection open: the answer is complete when its framing says so,
 * never only at EOF (else the probe would end as a timeout). */
static void test_complete_without_eof(void **state)
{
    struct health_http_response r;
    char *b;
    (void)state;
    /* an empty chunked body */
    assert_int_equal(
        PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, &r, &b), 1);
    assert_int_equal(r.body_len, 0);
    free(b);
    /* the last chunk without the blank line after it: not yet */
    assert_int_equal(PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n",
                           false, &r, &b),
                     0);
    free(b);
    /* a chunk extension and a trailer */
    assert_int_equal(PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "2;x=y\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
                           false, &r, &b),
                     1);
    assert_string_equal(r.body, "ok");
    free(b);
    /* a chunk split across reads */
    assert_int_equal(
        PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", false, &r, &b), 0);
    free(b);
    assert_int_equal(PARSE("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false, &r, &b),
                     1);
    free(b);
}

/* Not HTTP, said at once rather than after waiting for more: a NUL in the head, a
 * Content-Length that is not a number or is over the limit. */
static void test_bad_head_fails_at_once(void **state)
{
    static const char nul[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n";
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
    };
    struct health_http_response r;
    char *b;
    (void)state;
    assert_int_equal(parse(nul, sizeof(nul) - 1, false, &r, &b), -1);
    free(b);
    assert_int_equal(parse(nul, 12, false, &r, &b), 0); /* "HTTP/1.1 200" so far: fine */
    free(b);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i], strlen(bad[i]), false, &r, &b);
        if (rc != -1)
            fail_msg("answer %zu parsed as %d", i, rc);
        free(b);
    }
}

/* Every check kind of the config's table has probe code, and its traits agree with it. */
static void test_every_kind_has_a_probe(void **state)
{
    (void)state;
    for (int k = 0; k < CONFIG_CHECK_COUNT; k++) {
        const struct config_check_kind_info *info = &config_check_kinds[k];
        assert_non_null(info->name);
        assert_string_equal(info->name, config_check_kind_names[k]);
        assert_non_null(info->help);
        if (k == CONFIG_CHECK_NONE) {
            assert_null(health_check_kinds[k]);
            continue;
        }
        assert_non_null(health_check_kinds[k]);
        assert_true(info->speaks_http == (info->default_path != NULL));
    }
    assert_null(config_check_kind_names[CONFIG_CHECK_COUNT]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_until_eof_and_chunked),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_every_kind_has_a_probe),
        cmocka_unit_test(test_complete_without_eof),
        cmocka_unit_test(test_bad_head_fails_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
