/* PostgreSQL and MySQL first answers, judged without a connection (see dbwire.h). Every length
 * in them is checked against what was received and against a sane bound before it is used, and
 * whatever text is quoted from them is cut to printable ASCII: it goes to logs and /status. */
#include "health/dbwire.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* n bytes of s into out as printable ASCII ('?' for anything else). */
static void quote(const unsigned char *s, size_t n, char *out, size_t len)
{
    size_t i;
    if (!len)
        return;
    for (i = 0; i < n && i + 1 < len && s[i]; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
    out[i] = '\0';
}

/* The 'M' (message) field of an ErrorResponse, from the bytes at hand. */
static void pg_error_message(const unsigned char *b, size_t n, char *out, size_t len)
{
    size_t i = 5;
    char text[200];
    snprintf(out, len, "PostgreSQL answered with an error");
    while (i < n && b[i]) {
        unsigned char field = b[i++];
        size_t vlen = strnlen((const char *)b + i, n - i);
        if (field == 'M') {
            quote(b + i, vlen, text, sizeof(text));
            snprintf(out, len, "PostgreSQL answered with '%s'", text);
            return;
        }
        i += vlen + 1;
    }
}

enum health_wire health_pg_first(const unsigned char *b, size_t n, bool tls_request, char *detail,
                                 size_t len)
{
    uint32_t mlen;
    if (n == 0)
        return HEALTH_WIRE_MORE;
    if (tls_request && (b[0] == 'S' || b[0] == 'N')) {
        snprintf(detail, len, "PostgreSQL answered the TLS request");
        return HEALTH_WIRE_OK;
    }
    if (b[0] != 'R' && b[0] != 'E') {
        snprintf(detail, len, "not a PostgreSQL answer (first byte 0x%02x)", b[0]);
        return HEALTH_WIRE_BAD;
    }
    if (n < 5)
        return HEALTH_WIRE_MORE;
    mlen = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    if (mlen < (b[0] == 'R' ? 8u : 5u) || mlen > HEALTH_PG_MESSAGE_MAX) {
        snprintf(detail, len, "not a PostgreSQL answer ('%c' message of %u bytes)", b[0], mlen);
        return HEALTH_WIRE_BAD;
    }
    if (b[0] == 'R')
        snprintf(detail, len, "PostgreSQL asked for authentication");
    else
        pg_error_message(b, n < (size_t)mlen + 1 ? n : (size_t)mlen + 1, detail, len);
    return HEALTH_WIRE_OK;
}

enum health_wire health_mysql_first(const unsigned char *b, size_t n, char *detail, size_t len,
                                    size_t *used)
{
    size_t plen, vlen;
    char text[200];
    if (n < 5)
        return HEALTH_WIRE_MORE;
    plen = (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16;
    if (b[4] == 0xff) { /* error packet: code (2), then "#" and a state (6) or the text */
        size_t end = n < 4 + plen ? n : 4 + plen, at = 7;
        if (end > at + 6 && b[at] == '#')
            at += 6;
        quote(b + at, end > at ? end - at : 0, text, sizeof(text));
        snprintf(detail, len, "MySQL refused the connection: %s", text);
        return HEALTH_WIRE_REFUSED;
    }
    if (b[4] != 10) {
        snprintf(detail, len, "not a MySQL protocol 10 greeting (first byte 0x%02x)", b[4]);
        return HEALTH_WIRE_BAD;
    }
    if (plen + 4 > HEALTH_MYSQL_GREETING_MAX) {
        snprintf(detail, len, "not a MySQL greeting (a first packet of %zu bytes)", plen);
        return HEALTH_WIRE_BAD;
    }
    if (n < 4 + plen)
        return HEALTH_WIRE_MORE;
    const unsigned char *v = b + 5;
    vlen = plen > 1 ? strnlen((const char *)v, plen - 1) : 0;
    if (plen < 2 || vlen == plen - 1 || vlen == 0) {
        snprintf(detail, len, "not a MySQL greeting (no server version in it)");
        return HEALTH_WIRE_BAD;
    }
    for (size_t i = 0; i < vlen; i++)
        if (v[i] < 0x20 || v[i] >= 0x7f) {
            snprintf(detail, len, "not a MySQL greeting (no server version in it)");
            return HEALTH_WIRE_BAD;
        }
    if (vlen > 6 && memcmp(v, "5.5.5-", 6) == 0) {
        v += 6; /* MariaDB's prefix for old replication clients, not its version */
        vlen -= 6;
    }
    snprintf(detail, len, "%.*s", (int)vlen, (const char *)v);
    *used = 4 + plen;
    return HEALTH_WIRE_OK;
}
