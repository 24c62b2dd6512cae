/* Config loading: every documented mistake is reported at its file:line:col, defaults apply,
 * flags override the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "config/secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static struct config *load_text(const char *yaml, struct config_errors *errs)
{
    FILE *f;
    snprintf(path, sizeof(path), "/tmp/k3lb-test-%d.yaml", (int)getpid());
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    struct config *c = config_build(path, NULL, NULL, 0, errs);
    unlink(path);
    return c;
}

/* Loads yaml and asserts that one error reads "path:line:col: <contains msg>". */
static void expect_error(const char *yaml, unsigned line, unsigned col, const char *msg)
{
    struct config_errors errs = {0};
    struct config *c = load_text(yaml, &errs);
    char prefix[128];
    bool found = false;

    assert_null(c);
    snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", path, line, col);
    for (size_t i = 0; i < errs.n; i++)
        if (strncmp(errs.list[i].text, prefix, strlen(prefix)) == 0 &&
            strstr(errs.list[i].text, msg))
            found = true;
    if (!found) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "  got: %s\n", errs.list[i].text);
        fail_msg("expected '%s%s'", prefix, msg);
    }
    config_errors_free(&errs);
}

#define BACKEND  "backends:\n  - name: b\n    servers: [\"127.0.0.1:1\"]\n"
#define FRONTEND "frontends:\n  - {name: f, listen: [\":6443\"], backend: b}\n"

static void test_valid_full(void **state)
{
    struct config_errors errs = {0};
    struct config *c = load_text("admin: {listen: \"127.0.0.1:8404\"}\n"
                                 "log: {level: debug, format: json}\n"
                                 "frontends:\n"
                                 "  - {name: apiserver, listen: [\":6443\"], backend: servers}\n"
                                 "  - {name: etcd, listen: [\"127.0.0.1:2379\", \"[::1]:2379\"],"
                                 " backend: etcd}\n"
                                 "backends:\n"
                                 "  - name: servers\n"
                                 "    balance: leastconn\n"
                                 "    connect_timeout: 500ms\n"
                                 "    servers:\n"
                                 "      - {address: \"10.0.0.11:6443\", weight: 3}\n"
                                 "      - {address: \"server2.example:6443\", backup: true}\n"
                                 "  - name: etcd\n"
                                 "    servers: [\"10.0.0.11:2379\", \"10.0.0.12:2379\"]\n"
                                 "    health: {interval: 1s, fall: 2}\n",
                                 &errs);
    (void)state;
    config_errors_print(&errs, stderr);
    assert_non_null(c);
    assert_int_equal(c->n_frontends, 2);
    assert_int_equal(c->frontends[1].n_listen, 2);
    assert_int_equal(c->frontends[1].backend_index, 1);
    assert_int_equal(c->log.level, 0);
    assert_int_equal(c->log.format, 1);
    assert_int_equal(c->backends[0].balance, CONFIG_BALANCE_LEASTCONN);
    assert_int_equal(c->backends[0].connect_timeout_ms, 500);
    assert_int_equal(c->backends[0].idle_timeout_ms, 0);
    assert_int_equal(c->backends[0].servers[0].weight, 3);
    assert_true(c->backends[0].servers[1].backup);
    assert_int_equal(c->backends[0].servers[1].weight, 1);
    /* scalar list elements fill the shorthand key, with defaults for the rest */
    assert_string_equal(c->backends[1].servers[1].address.text, "10.0.0.12:2379");
    assert_int_equal(c->backends[1].health.interval_ms, 1000);
    assert_int_equal(c->backends[1].health.fall, 2);
    assert_int_equal(c->backends[1].health.rise, 2);
    assert_int_equal(c->backends[0].health.interval_ms, 2000);
    assert_int_equal(c->backends[0].health.on_down, CONFIG_ON_DOWN_CLOSE);
    assert_int_equal(c->grace_ms, 30000);
    assert_int_equal(c->buffer_size, 16384);
    config_unref(c);
}

static void test_yaml_syntax(void **state)
{
    (void)state;
    expect_error("frontends:\n  - {name: f, listen: [\":6443\"\n", 3, 1, "YAML syntax");
    expect_error("a: b\n c: d\n", 2, 3, "YAML syntax");
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_error(FRONTEND "backends:\n  - name: b\n    balanse: first\n    servers: [\"a:1\"]\n", 5,
                 5, "unknown key 'balanse' in backend (did you mean 'balance'?)");
    expect_error("colour: red\n" FRONTEND BACKEND, 1, 1, "unknown key 'colour' in config");
}

static void test_wrong_type(void **state)
{
    (void)state;
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: {a: 1}\n", 5, 14,
                 "'servers' must be a list");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers:\n      - {address: \"a:1\", "
                          "weight: [1]}\n",
                 6, 34, "'weight' must be a whole number, not a list");
    expect_error(FRONTEND BACKEND "log: verbose\n", 6, 6, "a log must be a mapping");
    expect_error("- a\n- b\n", 1, 1, "a config must be a mapping");
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error(FRONTEND "backends:\n  - servers: [\"a:1\"]\n", 4, 5,
                 "backend is missing required key 'name'");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers:\n      - {weight: 2}\n", 6, 9,
                 "server is missing required key 'address'");
    expect_error("", 1, 1, "missing required key 'frontends'");
}

static void test_undefined_backend(void **state)
{
    (void)state;
    expect_error("frontends:\n  - {name: f, listen: [\":6443\"], backend: bb}\n" BACKEND, 2, 43,
                 "frontend 'f' names backend 'bb', which is not defined (did you mean 'b'?)");
}

static void test_duplicates(void **state)
{
    (void)state;
    expect_error(FRONTEND "  - {name: f, listen: [\":2379\"], backend: b}\n" BACKEND, 3, 12,
                 "frontend name 'f' is used twice");
    expect_error(FRONTEND BACKEND "  - name: b\n    servers: [\"127.0.0.1:2\"]\n", 6, 11,
                 "backend name 'b' is used twice");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\", \"a:1\"]\n", 5, 22,
                 "server 'a:1' is listed twice");
    expect_error(FRONTEND "backends:\n  - name: b\n    name: c\n    servers: [\"a:1\"]\n", 5, 5,
                 "key 'name' is given twice");
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"10.0.0.1\"]\n", 5, 15,
                 "address '10.0.0.1' has no port");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"10.0.0.1:99999\"]\n", 5, 15,
                 "port must be 1..65535");
    expect_error(FRONTEND
                 "backends:\n  - name: b\n    connect_timeout: 3\n    servers: [\"a:1\"]\n",
                 5, 22, "connect_timeout: bad duration '3'");
    expect_error(FRONTEND
                 "backends:\n  - name: b\n    connect_timeout: 1ms\n    servers: [\"a:1\"]\n",
                 5, 22, "1ms is out of range 10ms..5m");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers:\n      - {address: \"a:1\", "
                          "weight: 300}\n",
                 6, 34, "weight: 300 is out of range 0..256");
    expect_error(FRONTEND "backends:\n  - name: b\n    balance: rr\n    servers: [\"a:1\"]\n", 5,
                 14, "balance: unknown value 'rr'");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\"]\n"
                          "    health: {interval: 1s, timeout: 2s}\n",
                 6, 37, "timeout 2s is longer than interval 1s");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: []\n", 5, 14,
                 "backend 'b' has no servers");
}

/* What a database check may say depends on its kind and on a login. */
static void test_database_check(void **state)
{
    (void)state;
#define DB_BACKEND(kind, db)                                                                       \
    FRONTEND "backends:\n  - name: b\n    servers: [\"127.0.0.1:1\"]\n    health:\n"               \
             "      kind: " kind "\n      database: " db "\n"
    expect_error(DB_BACKEND("tcp", "{user: u}"), 8, 17,
                 "database is only used by postgres and mysql checks");
    expect_error(DB_BACKEND("postgres", "{role_required: primary}"), 8, 33,
                 "role_required needs database.user: the check must log in");
    expect_error(DB_BACKEND("postgres", "{user: u, galera: true}"), 8, 35,
                 "galera applies to mysql checks only");
    expect_error(DB_BACKEND("mysql", "{user: u, sslmode: verify-ca}"), 8, 36,
                 "a mysql check verifies the name with the chain: use verify-full");
    expect_error(DB_BACKEND("postgres", "{user: u, sslmode: verify-full}"), 8, 36,
                 "sslmode verify-full needs tls.ca");
    expect_error(
        DB_BACKEND("postgres", "{user: u, password_file: /etc/passwd, password_env: HOME}"), 8, 69,
        "give password_file or password_env, not both");
    expect_error(DB_BACKEND("postgres", "{user: u, sslmode: sometimes}"), 8, 36, "sslmode");
    expect_error(FRONTEND "backends:\n  - name: b\n    http_proxy: http://127.0.0.1:3128\n"
                          "    servers: [\"127.0.0.1:1\"]\n"
                          "    health: {kind: mysql, database: {user: u}}\n",
                 5, 17, "a database check that logs in cannot go through http_proxy");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers:\n"
                          "      - {address: \"127.0.0.1:1\", check_address: db1.example}\n",
                 6, 49, "check_address 'db1.example' is not an IPv4 or IPv6 address");
#undef DB_BACKEND
    expect_error("frontends:\n  - {name: f, listen: [\":6443\"], backend: b, allow: "
                 "[10.0.0.0/33]}\n" BACKEND,
                 2, 54, "'10.0.0.0/33' is not an address or a network");
}

static void test_listen_collisions(void **state)
{
    (void)state;
    expect_error("frontends:\n  - {name: f, listen: [\":6443\"], backend: b}\n"
                 "  - {name: g, listen: [\"127.0.0.1:6443\"], backend: b}\n" BACKEND,
                 3, 23, "listen address '127.0.0.1:6443' of frontend 'g' collides with ':6443'");
    expect_error("frontends:\n  - {name: f, listen: [\"127.0.0.1:1\", \"127.0.0.1:1\"], backend: "
                 "b}\n" BACKEND,
                 2, 23, "collides");
    expect_error("admin: {listen: \"127.0.0.1:6443\"}\n" FRONTEND BACKEND, 3, 23,
                 "collides with the admin listener");
}

static void test_alias_bomb(void **state)
{
    (void)state;
    expect_error("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                 "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
                 6, 8, "document too large (more than 200000 values after aliases)");
}

/* Few values but many bytes: a large scalar aliased again and again is stopped by its size
 * (it used to be copied until memory ran out). */
static void test_alias_byte_bomb(void **state)
{
    size_t big = 1 << 20, n = 40, len = big + 16 + n * 5 + 16;
    char *yaml = malloc(len), *p = yaml;
    (void)state;
    p += sprintf(p, "a: &a ");
    memset(p, 'x', big);
    p += big;
    p += sprintf(p, "\nb: [");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s*a", i ? ", " : "");
    sprintf(p, "]\n");
    expect_error(yaml, 2, 61, "document too large (more than 16 MiB after aliases)");
    free(yaml);
}

/* Duplicates among 100,000 servers are found by sorting, not by comparing every pair (which
 * took minutes and blocked the serving process during a reload). */
static void test_many_servers(void **state)
{
    size_t n = 100000;
    char *yaml = malloc(n * 24 + 256), *p = yaml;
    (void)state;
    p += sprintf(p, "frontends: [{name: f, listen: [\":1\"], backend: b}]\n"
                    "backends: [{name: b, servers: [");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "\"10.%zu.%zu.%zu:1\", ", i >> 16, (i >> 8) & 255, i & 255);
    sprintf(p, "\"10.0.0.7:1\"]}]\n");
    expect_error(yaml, 2, 1700702, "server '10.0.0.7:1' is listed twice in backend 'b'");
    free(yaml);
}

/* Errors past the first CONFIG_ERRORS_KEPT are counted, not kept: a hostile file costs a
 * number, not memory per line. */
static void test_errors_are_bounded(void **state)
{
    struct config_errors errs = {0};
    size_t n = 301;
    char *yaml = malloc(n * 16 + 256), *p = yaml;
    (void)state;
    p += sprintf(p, FRONTEND "backends: [{name: b, servers: [");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "\"10.0.0.1:1\", ");
    sprintf(p, "\"10.0.0.2:1\"]}]\n");
    assert_null(load_text(yaml, &errs));
    assert_int_equal(errs.n, CONFIG_ERRORS_KEPT);
    assert_int_equal(errs.more, n - 1 - CONFIG_ERRORS_KEPT);
    config_errors_free(&errs);
    free(yaml);
}

/* Deep nesting is refused at the level that passes the bound, without building the rest. */
static void test_deep_nesting(void **state)
{
    size_t depth = 40000;
    char *yaml = malloc(2 * depth + 8);
    (void)state;
    memcpy(yaml, "a: ", 3);
    memset(yaml + 3, '[', depth);
    memset(yaml + 3 + depth, ']', depth);
    strcpy(yaml + 3 + 2 * depth, "\n");
    expect_error(yaml, 1, 35, "nesting too deep (more than 32 levels)");
    free(yaml);
    expect_error("a: *nowhere\n", 1, 4, "alias *nowhere names no anchor defined before it");
    expect_error("a: &x [1, *x]\n", 1, 11, "alias *x names no anchor defined before it");
}

/* Writes len bytes to a file and reads it back as a secret; returns it (or NULL, why set). */
static char *secret_from(const char *bytes, size_t len, char *why, size_t whylen)
{
    char file[] = "/tmp/k3lb-secret-XXXXXX";
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    close(fd);
    char *s = config_secret_read(file, NULL, "token", why, whylen);
    unlink(file);
    return s;
}

/* A secret is used whole or not at all: a NUL, a line break inside (header injection), or more
 * than 4 KiB is refused; one trailing line end is fine. */
static void test_secrets(void **state)
{
    char why[256], *s, *big = malloc(5000);
    (void)state;
    assert_non_null(s = secret_from("abc\n", 4, why, sizeof(why)));
    assert_string_equal(s, "abc");
    config_secret_free(s);
    assert_non_null(s = secret_from("abc\r\n", 5, why, sizeof(why)));
    config_secret_free(s);
    assert_null(secret_from("abc\0def", 7, why, sizeof(why)));
    assert_non_null(strstr(why, "contains a NUL byte (byte 4): refused, not cut"));
    assert_null(secret_from("abc\r\nX-Injected: 1\n", 20, why, sizeof(why)));
    assert_non_null(strstr(why, "contains a line break (byte 4)"));
    assert_null(secret_from("a\x1b[2Jb", 7, why, sizeof(why)));
    assert_non_null(strstr(why, "a control character"));
    memset(big, 'k', 5000);
    assert_null(secret_from(big, 4097, why, sizeof(why)));
    assert_non_null(strstr(why, "longer than 4096 bytes"));
    assert_non_null(s = secret_from(big, 4096, why, sizeof(why)));
    assert_int_equal(strlen(s), 4096);
    config_secret_free(s);
    big[4999] = '\0';
    setenv("K3LB_TEST_SECRET", big, 1);
    assert_null(config_secret_read(NULL, "K3LB_TEST_SECRET", "token", why, sizeof(why)));
    assert_non_null(strstr(why, "token ($K3LB_TEST_SECRET) is longer than 4096 bytes"));
    unsetenv("K3LB_TEST_SECRET");
    free(big);
}

static void test_missing_file(void **state)
{
    struct config_errors errs = {0};
    (void)state;
    assert_null(config_build("/nonexistent/k3lb.yaml", NULL, NULL, 0, &errs));
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.list[0].text, "/nonexistent/k3lb.yaml: cannot open: No such file or "
                                           "directory");
    config_errors_free(&errs);
}

static void test_overrides(void **state)
{
    const char *listen[] = {"127.0.0.1:7000"};
    const char *servers[] = {"127.0.0.1:7001", "127.0.0.1:7002"};
    const char *bad[] = {"127.0.0.1"};
    struct config_override ov[] = {
        {"frontends.0.listen", listen, 1, true, "--listen"},
        {"backends.0.servers", servers, 2, true, "--server"},
        {"backends.0.balance", (const char *[]){"first"}, 1, false, "K3LB_BALANCE"},
    };
    struct config_errors errs = {0};
    const char *base = "frontends: [{name: main, backend: main}]\nbackends: [{name: main}]\n";
    struct config *c = config_build(NULL, base, ov, 3, &errs);
    (void)state;
    config_errors_print(&errs, stderr);
    assert_non_null(c);
    assert_string_equal(c->frontends[0].listen[0].text, "127.0.0.1:7000");
    assert_int_equal(c->backends[0].n_servers, 2);
    assert_int_equal(c->backends[0].balance, CONFIG_BALANCE_FIRST);
    config_unref(c);

    ov[1].values = bad;
    ov[1].n_values = 1;
    assert_null(config_build(NULL, base, ov, 3, &errs));
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.list[0].text,
                        "--server: address '127.0.0.1' has no port: write host:port");
    config_errors_free(&errs);
}

static void test_health_keys(void **state)
{
    (void)state;
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\"]\n"
                          "    health: {kind: tcp, path: /x}\n",
                 6, 31, "path is not used by a tcp check");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\"]\n"
                          "    health: {kind: https, tls: {cert: /etc/hostname}}\n",
                 6, 39, "tls needs both cert and key");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\"]\n"
                          "    health: {kind: https, tls: {ca: /nonexistent/ca.pem}}\n",
                 6, 37, "ca: cannot read '/nonexistent/ca.pem': No such file or directory");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\"]\n"
                          "    health: {kind: http, auth: {basic: {user: u}}}\n",
                 6, 40, "basic auth needs one of password_file or password_env");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\"]\n"
                          "    health: {kind: k3s, token_env: K3LB_TEST_UNSET_VARIABLE}\n",
                 6, 36, "environment variable K3LB_TEST_UNSET_VARIABLE is not set");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\"]\n"
                          "    health: {kind: http, expect_status: [200, 700]}\n",
                 6, 47, "700 is out of range 100..599");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\"]\n"
                          "    health: {kind: http, path: readyz}\n",
                 6, 32, "path must start with '/'");
    expect_error(FRONTEND "backends:\n  - name: b\n    servers: [\"a:1\"]\n"
                          "    health: {kind: etc}\n",
                 6, 20, "kind: unknown value 'etc' (did you mean 'etcd'?)");
}

static void test_restart_keys(void **state)
{
    struct config_errors errs = {0};
    char why[64];
    struct config *a = load_text("workers: 2\n" FRONTEND BACKEND, &errs);
    struct config *b = load_text("workers: 2\ngrace: 5s\n" FRONTEND BACKEND, &errs);
    struct config *c = load_text("workers: 3\n" FRONTEND BACKEND, &errs);
    struct config *d = load_text("workers: 2\nuser: nobody\n" FRONTEND BACKEND, &errs);
    struct config *e = load_text("workers: 2\nresolver: 127.0.0.1:53\n" FRONTEND BACKEND, &errs);
    (void)state;
    assert_non_null(a);
    assert_false(config_needs_restart(a, b, why, sizeof(why)));
    assert_true(config_needs_restart(a, c, why, sizeof(why)));
    assert_string_equal(why, "config.workers");
    assert_true(config_needs_restart(a, d, why, sizeof(why)));
    assert_string_equal(why, "config.user");
    assert_true(config_needs_restart(d, a, why, sizeof(why)));
    assert_true(config_needs_restart(a, e, why, sizeof(why)));
    assert_string_equal(why, "config.resolver");
    assert_false(config_needs_restart(e, e, why, sizeof(why)));
    config_unref(e);
    config_unref(d);
    config_unref(a);
    config_unref(b);
    config_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_full),       cmocka_unit_test(test_yaml_syntax),
        cmocka_unit_test(test_unknown_key),      cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_missing_required), cmocka_unit_test(test_undefined_backend),
        cmocka_unit_test(test_duplicates),       cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_database_check),   cmocka_unit_test(test_listen_collisions),
        cmocka_unit_test(test_alias_bomb),       cmocka_unit_test(test_alias_byte_bomb),
        cmocka_unit_test(test_deep_nesting),     cmocka_unit_test(test_many_servers),
        cmocka_unit_test(test_secrets),          cmocka_unit_test(test_errors_are_bounded),
        cmocka_unit_test(test_missing_file),     cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_restart_keys),     cmocka_unit_test(test_health_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
