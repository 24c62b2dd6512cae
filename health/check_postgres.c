/* postgres check, two ways.
 *
 * Without database.user: a startup message (protocol 3.0) must be answered with an
 * authentication request ('R') or an error ('E'): either way the server speaks PostgreSQL. A
 * listener that accepts and stays silent times out. No credentials are sent.
 *
 * With database.user: libpq logs in (password, TLS as sslmode, SCRAM and every other method it
 * knows) and asks SELECT pg_is_in_recovery(), so only the writable primary (or only a replica)
 * passes. libpq's asynchronous API runs on the health engine's event loop: the connection is
 * started with PQconnectStartParams and driven by PQconnectPoll whenever its socket is ready,
 * which may be a new socket after each poll (sslmode prefer retries without TLS). */
#include "health/check.h"
#include "common/xalloc.h"

#include "health/dbwire.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <sys/socket.h>
#include <stdint.h>
#include <string.h>

static void pg_ready(struct health_probe *p)
{
    static const char params[] = "user\0k3lb\0database\0k3lb\0application_name\0k3lb-health\0";
    unsigned char msg[8 + sizeof(params)];
    uint32_t len = htonl((uint32_t)sizeof(msg)), version = htonl(196608); /* 3.0 */
    memcpy(msg, &len, 4);
    memcpy(msg + 4, &version, 4);
    memcpy(msg + 8, params, sizeof(params)); /* includes the final terminating NUL */
    bufferevent_write(p->bev, msg, sizeof(msg));
}

static void pg_data(struct health_probe *p, struct evbuffer *in)
{
    unsigned char b[512];
    size_t len = evbuffer_copyout(in, b, sizeof(b));
    char detail[256];
    switch (health_pg_first(b, len, false, detail, sizeof(detail))) {
    case HEALTH_WIRE_MORE:
        return;
    case HEALTH_WIRE_OK:
        health_probe_done(p, HEALTH_RESULT_OK, "%s", detail);
        return;
    default:
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR, "%s", detail);
    }
}

static void pg_eof(struct health_probe *p, struct evbuffer *in)
{
    if (evbuffer_get_length(in) >= 5) {
        pg_data(p, in);
        return;
    }
    health_probe_done(p, HEALTH_RESULT_RESET, "closed without answering the startup message");
}

/* ---- with a login: libpq ----------------------------------------------------------------- */

static const char *const sslmode_words[] = {
    [CONFIG_SSLMODE_DISABLE] = "disable",         [CONFIG_SSLMODE_PREFER] = "prefer",
    [CONFIG_SSLMODE_REQUIRE] = "require",         [CONFIG_SSLMODE_VERIFY_CA] = "verify-ca",
    [CONFIG_SSLMODE_VERIFY_FULL] = "verify-full",
};

struct pg_login {
    PGconn *conn;
    unsigned polls;  /* PQconnectPoll calls so far */
    bool first_seen; /* the server's first bytes looked like PostgreSQL's */
};

/* A login takes a handful of round trips (TLS, SCRAM: about ten). libpq reads at most some
 * 32 KiB per call and keeps what it read until a message ends: a peer that streams an endless
 * one (an old-style error without its NUL) would grow libpq's buffer at the network's speed
 * until the deadline. Capping the calls caps that memory at a few MiB. */
#define PQ_POLLS_MAX 64

/* libpq's message, on one line and without its "connection to server at ... failed:" lead
 * (the target's label already says where). */
static void pq_message(PGconn *conn, char *out, size_t len)
{
    const char *m = conn ? PQerrorMessage(conn) : "out of memory";
    const char *lead = strstr(m, "failed: ");
    size_t n;
    if (lead && strncmp(m, "connection to server", 20) == 0)
        m = lead + 8;
    snprintf(out, len, "%s", m);
    for (n = strlen(out); n && (out[n - 1] == '\n' || out[n - 1] == ' '); n--)
        out[n - 1] = '\0';
    for (char *c = out; *c; c++)
        if (*c == '\n' || *c == '\t')
            *c = ' ';
    for (char *c = strstr(out, "  "); c; c = strstr(c, "  ")) /* "FATAL:  ..." */
        memmove(c, c + 1, strlen(c));
}

/* The outcome a libpq failure stands for. Its messages are the only signal before a result
 * exists; they are matched on the stable parts (errno strings, SQLSTATE-backed texts). */
static enum health_result pq_result(const char *m)
{
    if (strstr(m, "Connection refused"))
        return HEALTH_RESULT_REFUSED;
    if (strstr(m, "No route to host") || strstr(m, "Network is unreachable"))
        return HEALTH_RESULT_UNREACHABLE;
    if (strstr(m, "closed the connection unexpectedly") || strstr(m, "Connection reset"))
        return HEALTH_RESULT_RESET;
    if (strstr(m, "SSL") || strstr(m, "certificate"))
        return HEALTH_RESULT_TLS_ERROR;
    return HEALTH_RESULT_BAD_STATUS; /* the server said no: login, database, starting up */
}

static void pq_fail(struct health_probe *p, const char *what)
{
    struct pg_login *st = p->ctx;
    char m[256];
    pq_message(st->conn, m, sizeof(m));
    health_probe_done(p, pq_result(m), "%s%s", what, m);
}

static void pq_verdict(struct health_probe *p, PGresult *res)
{
    const struct health_db *db = &p->t->p.db;
    bool in_recovery;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 1) {
        const char *m = PQresultErrorMessage(res);
        health_probe_done(p, HEALTH_RESULT_BAD_STATUS, "SELECT pg_is_in_recovery(): %.200s",
                          m && *m ? m : PQresStatus(PQresultStatus(res)));
        return;
    }
    in_recovery = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    if ((db->role == CONFIG_DB_ROLE_PRIMARY && in_recovery) ||
        (db->role == CONFIG_DB_ROLE_REPLICA && !in_recovery))
        health_probe_done(p, HEALTH_RESULT_WRONG_ROLE, "%s, but %s is required",
                          in_recovery ? "in recovery (a replica)" : "the primary",
                          db->role == CONFIG_DB_ROLE_PRIMARY ? "the primary" : "a replica");
    else
        health_probe_done(p, HEALTH_RESULT_OK, "logged in as %s: %s", db->user,
                          in_recovery ? "in recovery (a replica)" : "the primary");
}

static void pq_query_io(struct health_probe *p, short what)
{
    struct pg_login *st = p->ctx;
    PGresult *res;
    if ((what & EV_WRITE) && PQflush(st->conn) < 0) {
        pq_fail(p, "query: ");
        return;
    }
    if ((what & EV_READ) && !PQconsumeInput(st->conn)) {
        pq_fail(p, "query: ");
        return;
    }
    if (PQisBusy(st->conn)) {
        health_probe_wait(p, PQsocket(st->conn), EV_READ, pq_query_io);
        return;
    }
    res = PQgetResult(st->conn);
    pq_verdict(p, res); /* frees the probe, not the result */
    PQclear(res);
}

static void pq_query(struct health_probe *p)
{
    struct pg_login *st = p->ctx;
    int pending;
    if (PQsetnonblocking(st->conn, 1) != 0 ||
        !PQsendQuery(st->conn, "SELECT pg_is_in_recovery()")) {
        pq_fail(p, "query: ");
        return;
    }
    pending = PQflush(st->conn);
    if (pending < 0)
        pq_fail(p, "query: ");
    else
        health_probe_wait(p, PQsocket(st->conn), pending ? EV_READ | EV_WRITE : EV_READ,
                          pq_query_io);
}

static void pq_poll(struct health_probe *p, PostgresPollingStatusType st);

/* The server's first answer, peeked before libpq reads it. libpq takes an error longer than
 * PostgreSQL's bound for a pre-3.0 server's and reads it until a NUL, buffering whatever
 * streams in: a port that floods (not PostgreSQL at all) is refused here instead. */
static bool pq_first_answer_ok(struct health_probe *p, int fd)
{
    struct pg_login *st = p->ctx;
    unsigned char b[5];
    char detail[256];
    ssize_t n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
    switch (health_pg_first(b, n > 0 ? (size_t)n : 0, true, detail, sizeof(detail))) {
    case HEALTH_WIRE_MORE:
        return true; /* nothing yet, or an end libpq reports itself */
    case HEALTH_WIRE_BAD:
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR, "%s", detail);
        return false;
    default:
        st->first_seen = true;
        return true;
    }
}

static void pq_connect_io(struct health_probe *p, short what)
{
    struct pg_login *st = p->ctx;
    if (!st->first_seen && (what & EV_READ) && !pq_first_answer_ok(p, PQsocket(st->conn)))
        return;
    if (++st->polls > PQ_POLLS_MAX) {
        health_probe_done(p, HEALTH_RESULT_PROTOCOL_ERROR,
                          "not a PostgreSQL login: no end after %d reads", PQ_POLLS_MAX);
        return;
    }
    pq_poll(p, PQconnectPoll(st->conn));
}

static void pq_poll(struct health_probe *p, PostgresPollingStatusType s)
{
    struct pg_login *st = p->ctx;
    switch (s) {
    case PGRES_POLLING_READING:
        health_probe_wait(p, PQsocket(st->conn), EV_READ, pq_connect_io);
        break;
    case PGRES_POLLING_WRITING:
        health_probe_wait(p, PQsocket(st->conn), EV_WRITE, pq_connect_io);
        break;
    case PGRES_POLLING_OK:
        pq_query(p);
        break;
    default:
        pq_fail(p, "");
    }
}

static void pq_start(struct health_probe *p)
{
    const struct health_params *hp = &p->t->p;
    const struct health_db *db = &hp->db;
    struct pg_login *st = xcalloc(1, sizeof(*st));
    char host[INET6_ADDRSTRLEN], port[8];
    unsigned portnum;
    /* hostaddr is dialled (no name lookup on the loop); host is the name verify-full checks.
     * passfile and gssencmode keep the outcome from depending on the home directory or on a
     * Kerberos cache. */
    const char *keys[16] = {"hostaddr",         "host",    "port",       "user",
                            "application_name", "sslmode", "gssencmode", "passfile"};
    const char *vals[16] = {host,          hp->server_name ? hp->server_name : host,
                            port,          db->user,
                            "k3lb-health", sslmode_words[db->sslmode],
                            "disable",     "/dev/null"};
    size_t n = 8;

    p->ctx = st;
    health_probe_host(p, host, sizeof(host), &portnum);
    snprintf(port, sizeof(port), "%u", portnum);
#define PQ_OPT(k, v)                                                                               \
    if (v) {                                                                                       \
        keys[n] = k;                                                                               \
        vals[n++] = v;                                                                             \
    }
    PQ_OPT("password", db->password);
    PQ_OPT("dbname", db->name ? db->name : "postgres"); /* libpq's default, the user's name, is
                                                        rarely a database */
    PQ_OPT("sslrootcert", db->ca);
    PQ_OPT("sslcert", db->cert);
    PQ_OPT("sslkey", db->key);
#undef PQ_OPT
    keys[n] = vals[n] = NULL;
    st->conn = PQconnectStartParams(keys, vals, 0);
    if (!st->conn || PQstatus(st->conn) == CONNECTION_BAD)
        pq_fail(p, "");
    else
        pq_poll(p, PGRES_POLLING_WRITING); /* libpq's documented first step */
}

static void pg_start(struct health_probe *p)
{
    static const struct health_stream_cbs cbs = {.ready = pg_ready, .data = pg_data, .eof = pg_eof};
    if (p->t->p.db.user)
        pq_start(p);
    else
        health_stream_open(p, NULL, &cbs, false);
}

static void pg_abort(struct health_probe *p)
{
    struct pg_login *st = p->ctx;
    health_probe_unwait(p); /* before libpq closes the socket it watches */
    if (st && st->conn)
        PQfinish(st->conn); /* sends Terminate: the server logs a clean end, not an EOF */
}

const struct health_check_ops check_postgres_ops = {
    .name = "postgres",
    .start = pg_start,
    .abort = pg_abort,
};
