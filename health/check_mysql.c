/* mysql check (MySQL and MariaDB), two ways.
 *
 * Without database.user: the server must greet with a protocol-10 handshake packet. After the
 * greeting the probe answers as user "k3lb" without a password and then quits, so the server
 * counts a finished login attempt rather than an aborted connection (enough aborted ones from a
 * host make MySQL block it: max_connect_errors).
 *
 * With database.user: MariaDB Connector/C logs in (its auth plugins: native, caching_sha2,
 * ed25519; TLS) and reads @@read_only and @@innodb_read_only, then for galera the wsrep status,
 * so only a writable primary (or a synced Galera node) passes. The connector's non-blocking API
 * runs on the health loop: each start and continue call says which socket events it waits for. The
 * library rather than the greeting probe extended: auth plugins and TLS are its job, and a
 * hand-written login would lag behind every server's default plugin. */
#include "health/check.h"
#include "common/xalloc.h"

#include "health/dbwire.h"

#include <errmsg.h>
#include <sys/socket.h>
#include <mysql.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mysql_state {
    bool greeted;      /* the greeting arrived and was answered */
    char version[256]; /* server version from the greeting, or why there is none */
};

static void send_packet(struct health_probe *p, uint8_t seq, const void *payload, size_t len)
{
    uint8_t head[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), seq};
    bufferevent_write(p->bev, head, 4);
    bufferevent_write(p->bev, payload, len);
}

static void answer_greeting(struct health_probe *p)
{
    uint8_t resp[32 + 6] = {0};
    uint32_t caps = CLIENT_MYSQL | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION;
    uint32_t max_packet = 1 << 24;
    memcpy(resp, &caps, 4); /* little endian on every target k3lb builds for */
    memcpy(resp + 4, &max_packet, 4);
    resp[8] = 33;                   /* utf8 */
    memcpy(resp + 32, "k3lb\0", 5); /* user, then an empty auth response (length 0) */
    send_packet(p, 1, resp, sizeof(resp));
}

static void greet_ok(struct health_probe *p)
{
    struct mysql_state *st = p->ctx;
    uint8_t quit = 0x01;
    send_packet(p, 0, &quit, 1);
    health_probe_done(p, HEALTH_RESULT_OK, "MySQL protocol 10 greeting (server %s)", st->version);
}

static void greet_data(struct health_probe *p, struct evbuffer *in)
{
    struct mysql_state *st = p->ctx;
    unsigned char b[HEALTH_MYSQL_GREETING_MAX];
    size_t len = evbuffer_copyout(in, b, sizeof(b)), used = 0;

    if (st->greeted) {
        if (len)
            greet_ok(p); /* any answer to the login: the server is alive and speaking */
        return;
    }
    switch (health_mysql_first(b, len, st->version, sizeof(st->version), &used)) {
    case HEALTH_WIRE_MORE:
        return;
    case HEALTH_WIRE_OK:
        evbuffer_drain(in, used);
        st->greeted = true;
        answer_greeting(p);
        return;
    default: /* refused or not MySQL: the version field holds the reason */
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR, "%s", st->version);
    }
}

static void greet_eof(struct health_probe *p, struct evbuffer *in)
{
    struct mysql_state *st = p->ctx;
    (void)in;
    if (st->greeted)
        health_probe_done(p, HEALTH_RESULT_OK, "MySQL protocol 10 greeting (server %s)",
                          st->version);
    else
        health_probe_done(p, HEALTH_RESULT_RESET, "closed without a greeting");
}

static void greet_ready(struct health_probe *p)
{
    (void)p;
}

/* ---- with a login: MariaDB Connector/C ------------------------------------------------------ */

struct my_login {
    struct mysql_state greet; /* first: the greeting probe's code reads p->ctx as its state */
    MYSQL *m;
    MYSQL *connected; /* mysql_real_connect's answer */
    int query_err;    /* mysql_real_query's answer */
    MYSQL_RES *res;   /* mysql_store_result's answer */
    bool read_only;   /* from the first query */
    bool first_seen;  /* the server's first packet was looked at before the connector read it */
    int wants;        /* the MYSQL_WAIT_* flags the connector waits for; 0: no *_start is pending */
    int (*cont)(struct health_probe *p, int ready); /* the call that goes on when ready */
    void (*then)(struct health_probe *p);           /* what follows when it is done */
    void (*after)(struct health_probe *p);          /* what follows a query's rows */
};

static void my_io(struct health_probe *p, short what);

/* status is what a *_start or *_cont returned: 0 done, else the events it waits for. */
static void my_wait(struct health_probe *p, int status)
{
    struct my_login *st = p->ctx;
    short ev = 0;
    st->wants = status;
    if (!status) {
        st->then(p);
        return;
    }
    if (status & (MYSQL_WAIT_READ | MYSQL_WAIT_EXCEPT))
        ev |= EV_READ;
    if (status & MYSQL_WAIT_WRITE)
        ev |= EV_WRITE;
    /* Until the server's first packet has been looked at, wait for it to be readable even when
     * the connector waits for its connect to finish: on a fast link the greeting is there by
     * then, and the connector would read it straight after connecting. A failed connect makes
     * the socket readable too. */
    if (!st->first_seen && ev)
        ev = EV_READ;
    /* Only a timeout asked for (none is set): the probe's deadline ends it. */
    health_probe_wait(p, (int)mysql_get_socket(st->m), ev, my_io);
}

/* The server's first packet, peeked before the connector reads it, so that a port speaking
 * something else is named for what it is rather than as a lost connection. */
static bool my_first_packet_ok(struct health_probe *p)
{
    struct my_login *st = p->ctx;
    unsigned char b[HEALTH_MYSQL_GREETING_MAX];
    char detail[256];
    size_t used;
    ssize_t n = recv((int)mysql_get_socket(st->m), b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
    st->first_seen = true; /* once: later bytes are the connector's business */
    if (n > 0 &&
        health_mysql_first(b, (size_t)n, detail, sizeof(detail), &used) == HEALTH_WIRE_BAD) {
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR, "%s", detail);
        return false;
    }
    return true;
}

static void my_io(struct health_probe *p, short what)
{
    struct my_login *st = p->ctx;
    int ready = (what & EV_READ ? MYSQL_WAIT_READ : 0) | (what & EV_WRITE ? MYSQL_WAIT_WRITE : 0);
    if (!st->first_seen && (what & EV_READ)) {
        if (!my_first_packet_ok(p))
            return;
        ready |= st->wants & MYSQL_WAIT_WRITE; /* readable after a connect: it finished */
    }
    my_wait(p, st->cont(p, ready));
}

static void my_step(struct health_probe *p, int status, int (*cont)(struct health_probe *, int),
                    void (*then)(struct health_probe *))
{
    struct my_login *st = p->ctx;
    st->cont = cont;
    st->then = then;
    my_wait(p, status);
}

static int connect_cont(struct health_probe *p, int ready)
{
    struct my_login *st = p->ctx;
    return mysql_real_connect_cont(&st->connected, st->m, ready);
}

static int query_cont(struct health_probe *p, int ready)
{
    struct my_login *st = p->ctx;
    return mysql_real_query_cont(&st->query_err, st->m, ready);
}

static int store_cont(struct health_probe *p, int ready)
{
    struct my_login *st = p->ctx;
    return mysql_store_result_cont(&st->res, st->m, ready);
}

static enum health_result my_result(unsigned err, const char *msg)
{
    if (err == CR_CONN_HOST_ERROR || err == CR_CONNECTION_ERROR)
        return strstr(msg, "(111)") ? HEALTH_RESULT_REFUSED : HEALTH_RESULT_UNREACHABLE;
    if (err == CR_SERVER_LOST || err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST_EXTENDED)
        return HEALTH_RESULT_RESET;
    if (err == CR_SSL_CONNECTION_ERROR)
        return HEALTH_RESULT_TLS_ERROR;
    return HEALTH_RESULT_BAD_STATUS; /* the server said no: access denied, unknown database */
}

static void my_fail(struct health_probe *p, const char *what)
{
    struct my_login *st = p->ctx;
    unsigned err = mysql_errno(st->m);
    char msg[220];
    snprintf(msg, sizeof(msg), "%s", mysql_error(st->m));
    health_probe_done(p, my_result(err, msg), "%s%s (error %u)", what, msg, err);
}

static void my_stored(struct health_probe *p)
{
    struct my_login *st = p->ctx;
    if (!st->res)
        my_fail(p, "query: ");
    else
        st->after(p);
}

static void my_sent(struct health_probe *p)
{
    struct my_login *st = p->ctx;
    if (st->query_err)
        my_fail(p, "query: ");
    else
        my_step(p, mysql_store_result_start(&st->res, st->m), store_cont, my_stored);
}

/* Runs one query and stores its rows, then calls after (which finds them in st->res). */
static void my_query(struct health_probe *p, const char *sql, void (*after)(struct health_probe *p))
{
    struct my_login *st = p->ctx;
    st->after = after;
    my_step(p, mysql_real_query_start(&st->query_err, st->m, sql, strlen(sql)), query_cont,
            my_sent);
}

static const char *row_value(const char *v)
{
    return v ? v : "";
}

static void my_verdict(struct health_probe *p, const char *galera)
{
    struct my_login *st = p->ctx;
    const struct health_db *db = &p->t->p.db;
    const char *role = st->read_only ? "read-only (a replica)" : "writable (a primary)";
    if ((db->role == CONFIG_DB_ROLE_PRIMARY && st->read_only) ||
        (db->role == CONFIG_DB_ROLE_REPLICA && !st->read_only))
        health_probe_done(p, HEALTH_RESULT_WRONG_ROLE, "%s, but %s is required", role,
                          db->role == CONFIG_DB_ROLE_PRIMARY ? "a writable primary" : "a replica");
    else
        health_probe_done(p, HEALTH_RESULT_OK, "logged in as %s: %s%s", db->user, role,
                          galera ? ", galera node synced" : "");
}

static void my_galera_rows(struct health_probe *p)
{
    struct my_login *st = p->ctx;
    char state[8] = "", comment[48] = "", ready[8] = "";
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(st->res))) {
        if (!row[0] || !row[1] || mysql_num_fields(st->res) < 2)
            continue;
        if (strcasecmp(row[0], "wsrep_local_state") == 0)
            snprintf(state, sizeof(state), "%s", row[1]);
        else if (strcasecmp(row[0], "wsrep_local_state_comment") == 0)
            snprintf(comment, sizeof(comment), "%s", row[1]);
        else if (strcasecmp(row[0], "wsrep_ready") == 0)
            snprintf(ready, sizeof(ready), "%s", row[1]);
    }
    if (!state[0])
        health_probe_done(p, HEALTH_RESULT_BAD_BODY, "not a Galera node (no wsrep_local_state)");
    else if (strcmp(state, "4") != 0 || strcasecmp(ready, "ON") != 0)
        health_probe_done(p, HEALTH_RESULT_WRONG_ROLE,
                          "galera wsrep_local_state %s (%s), wsrep_ready %s: a synced node "
                          "(4, ON) is required",
                          state, comment[0] ? comment : "?", ready[0] ? ready : "?");
    else
        my_verdict(p, "synced");
}

static void my_role_rows(struct health_probe *p)
{
    struct my_login *st = p->ctx;
    MYSQL_ROW row = mysql_num_fields(st->res) == 2 ? mysql_fetch_row(st->res) : NULL;
    if (!row) {
        health_probe_done(p, HEALTH_RESULT_BAD_BODY, "no row for @@read_only");
        return;
    }
    st->read_only = strcmp(row_value(row[0]), "0") != 0 || strcmp(row_value(row[1]), "0") != 0;
    mysql_free_result(st->res);
    st->res = NULL;
    if (p->t->p.db.galera)
        my_query(p, "SHOW GLOBAL STATUS LIKE 'wsrep\\_%'", my_galera_rows);
    else
        my_verdict(p, NULL);
}

static void my_connected(struct health_probe *p)
{
    struct my_login *st = p->ctx;
    if (!st->connected)
        my_fail(p, "");
    else
        my_query(p, "SELECT @@global.read_only, @@global.innodb_read_only", my_role_rows);
}

static void my_tls(MYSQL *m, const struct health_db *db)
{
    my_bool on = 1;
    if (db->sslmode == CONFIG_SSLMODE_DISABLE)
        return;
    mysql_ssl_set(m, db->key, db->cert, db->ca, NULL, NULL);
    if (db->sslmode >= CONFIG_SSLMODE_REQUIRE)
        mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
    if (db->sslmode == CONFIG_SSLMODE_VERIFY_FULL)
        mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
}

static void my_login_start(struct health_probe *p)
{
    const struct health_db *db = &p->t->p.db;
    struct my_login *st = xcalloc(1, sizeof(*st));
    unsigned protocol = MYSQL_PROTOCOL_TCP, port;
    unsigned long max_packet = 64 * 1024;
    char host[INET6_ADDRSTRLEN];

    p->ctx = st;
    st->m = mysql_init(NULL);
    if (!st->m) {
        health_probe_done(p, HEALTH_RESULT_NO_RESOURCES, "mysql_init: out of memory");
        return;
    }
    /* TCP to the literal address: no socket file for "localhost", no name lookup, no option
     * files read (none are named). */
    mysql_options(st->m, MYSQL_OPT_NONBLOCK, 0);
    mysql_options(st->m, MYSQL_OPT_PROTOCOL, &protocol);
    /* The answers are a greeting and a few rows: a server claiming a larger packet is cut
     * off there instead of growing the connector's buffer towards it. */
    mysql_options(st->m, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
    mysql_optionsv(st->m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "k3lb-health");
    my_tls(st->m, db);
    health_probe_host(p, host, sizeof(host), &port);
    my_step(p,
            mysql_real_connect_start(&st->connected, st->m, host, db->user,
                                     db->password ? db->password : "", db->name, port, NULL, 0),
            connect_cont, my_connected);
}

static void mysql_start(struct health_probe *p)
{
    static const struct health_stream_cbs cbs = {
        .ready = greet_ready, .data = greet_data, .eof = greet_eof};
    if (p->t->p.db.user) {
        my_login_start(p);
        return;
    }
    p->ctx = xcalloc(1, sizeof(struct my_login)); /* m stays NULL: no connector */
    health_stream_open(p, NULL, &cbs, false);
}

static void mysql_abort(struct health_probe *p)
{
    struct my_login *st = p->ctx;
    health_probe_unwait(p); /* before the connector closes the socket it watches */
    if (!st || !st->m)
        return;
    if (st->res)
        mysql_free_result(st->res);
    if (st->wants)
        mariadb_cancel(st->m); /* cut at the deadline: close without waiting on the server */
    mysql_close(st->m);        /* done: sends COM_QUIT, so the server counts no aborted login */
}

const struct health_check_ops check_mysql_ops = {
    .name = "mysql",
    .start = mysql_start,
    .abort = mysql_abort,
};
