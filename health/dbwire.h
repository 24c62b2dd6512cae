/* The first bytes a PostgreSQL or MySQL server sends, judged from the bytes alone: shared by
 * the plain protocol probes, the login checks' peek before their client library reads, and
 * the fuzz target. Internal to health/. */
#ifndef K3LB_HEALTH_DBWIRE_H
#define K3LB_HEALTH_DBWIRE_H

#include <stdbool.h>
#include <stddef.h>

enum health_wire {
    HEALTH_WIRE_MORE = 0, /* not enough bytes to judge yet */
    HEALTH_WIRE_OK,       /* the server speaks the protocol; detail says what it said */
    HEALTH_WIRE_REFUSED,  /* MySQL: an error packet instead of a greeting (detail: its text) */
    HEALTH_WIRE_BAD,      /* not the protocol; detail says why */
};

/* libpq's own bound for a message other than data rows (fe-protocol3.c). */
#define HEALTH_PG_MESSAGE_MAX 30000
/* A MySQL greeting is about 100 bytes; a first packet longer than this is not one. */
#define HEALTH_MYSQL_GREETING_MAX 512

/* A PostgreSQL server's answer to a startup message: an authentication request or an error of
 * a sane length; with tls_request, also the one-byte answer to a TLS request. */
enum health_wire health_pg_first(const unsigned char *b, size_t n, bool tls_request, char *detail,
                                 size_t len);
/* A MySQL server's first packet: a protocol-10 greeting (detail: the server version; *used:
 * the packet's length with its header) or an error packet. */
enum health_wire health_mysql_first(const unsigned char *b, size_t n, char *detail, size_t len,
                                    size_t *used);

#endif
