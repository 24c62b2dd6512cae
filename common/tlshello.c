/* Finding the server name in a TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3). The hello may come
 * in several records and each record in several segments: the reader starts over on every call
 * with all bytes so far, joins the records' fragments and decides only once the message is whole
 * (or cannot be one). Anything it cannot read as a hello with a name is "no name": the frontend
 * then uses its default backend, as a client that does not speak TLS at all. */
#include "common/tlshello.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define RECORD_HANDSHAKE 22
#define HANDSHAKE_HELLO  1
#define EXT_SERVER_NAME  0
#define NAME_TYPE_HOST   0
#define RECORD_HEADER    5
#define RECORD_MAX       16384 /* TLSPlaintext.length: at most 2^14 */
#define HANDSHAKE_HEADER 4

static enum tlshello_status no_name(char *name, const char **why, const char *because)
{
    name[0] = '\0';
    *why = because;
    return TLSHELLO_DONE;
}

/* ---- reading the message: bounded cursor ------------------------------------------------------
 */

struct cursor {
    const unsigned char *p;
    size_t n;
};

static bool skip(struct cursor *c, size_t k)
{
    if (c->n < k)
        return false;
    c->p += k;
    c->n -= k;
    return true;
}

static bool u8(struct cursor *c, size_t *v)
{
    if (c->n < 1)
        return false;
    *v = c->p[0];
    return skip(c, 1);
}

static bool u16(struct cursor *c, size_t *v)
{
    if (c->n < 2)
        return false;
    *v = (size_t)c->p[0] << 8 | c->p[1];
    return skip(c, 2);
}

/* A vector of length prefix width 1 or 2: sub takes its bytes. */
static bool vec(struct cursor *c, int width, struct cursor *sub)
{
    size_t len;
    if (!(width == 1 ? u8(c, &len) : u16(c, &len)) || c->n < len)
        return false;
    *sub = (struct cursor){c->p, len};
    return skip(c, len);
}

/* A host name as DNS writes it: letters, digits, '-' and '_' in labels of 1 to 63, at most 253
 * in all, one trailing dot allowed. Written to name in lower case, without the dot. */
static bool host_name(const unsigned char *s, size_t n, char *name)
{
    size_t label = 0;
    if (n && s[n - 1] == '.')
        n--;
    if (n == 0 || n > TLSHELLO_NAME_MAX - 1)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        if (ch == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
            label++;
        } else if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch - 'A' + 'a');
            label++;
        } else {
            return false;
        }
        if (label > 63)
            return false;
        name[i] = (char)ch;
    }
    if (label == 0)
        return false;
    name[n] = '\0';
    return true;
}

/* The server_name extension's body: the first host_name entry. */
static const char *server_name(struct cursor ext, char *name)
{
    struct cursor list, entry;
    size_t type;
    if (!vec(&ext, 2, &list) || ext.n)
        return "a malformed server_name extension";
    while (list.n) {
        if (!u8(&list, &type) || !vec(&list, 2, &entry))
            return "a malformed server_name extension";
        if (type == NAME_TYPE_HOST)
            return host_name(entry.p, entry.n, name) ? NULL : "a server name that is no host name";
    }
    return "no host_name in server_name";
}

/* The ClientHello body (after its 4-byte header). */
static enum tlshello_status hello_body(struct cursor c, char *name, const char **why)
{
    struct cursor sid, suites, comp, exts, data;
    size_t type, seen = 0;
    const char *bad = NULL;
    if (!skip(&c, 2 + 32) || !vec(&c, 1, &sid) || sid.n > 32 || !vec(&c, 2, &suites) ||
        suites.n < 2 || suites.n % 2 || !vec(&c, 1, &comp) || comp.n < 1)
        return no_name(name, why, "a malformed ClientHello");
    if (c.n == 0)
        return no_name(name, why, "a ClientHello without extensions");
    if (!vec(&c, 2, &exts) || c.n)
        return no_name(name, why, "a malformed extensions list");
    while (exts.n) {
        if (!u16(&exts, &type) || !vec(&exts, 2, &data))
            return no_name(name, why, "a malformed extension");
        if (type != EXT_SERVER_NAME)
            continue; /* GREASE, ECH, key shares...: not ours to judge */
        if (seen++)
            return no_name(name, why, "two server_name extensions");
        bad = server_name(data, name);
    }
    if (!seen)
        return no_name(name, why, "no server_name extension");
    if (bad)
        return no_name(name, why, bad);
    *why = "";
    return TLSHELLO_DONE;
}

/* ---- the records ------------------------------------------------------------------------------
 */

/* A record header that cannot be a TLS handshake's: the client speaks something else. The
 * first bytes are judged as soon as they arrive, so a client of another protocol is not kept
 * waiting for five. */
static bool record_head_bad(const unsigned char *r, size_t n)
{
    if (n >= 1 && r[0] != RECORD_HANDSHAKE)
        return true;
    if (n >= 2 && r[1] != 3)
        return true;
    return n >= 3 && r[2] > 4;
}

enum tlshello_status tlshello_parse(const unsigned char *buf, size_t len, char *name,
                                    const char **why)
{
    unsigned char msg[HANDSHAKE_HEADER + TLSHELLO_MAX];
    size_t have = 0, need = 0, off = 0;

    for (;;) {
        const unsigned char *r = buf + off;
        size_t avail = len - off, rlen, take;
        if (record_head_bad(r, avail < RECORD_HEADER ? avail : RECORD_HEADER))
            return no_name(name, why,
                           off ? "a record that is not a handshake inside the hello"
                               : "not a TLS handshake");
        if (avail < RECORD_HEADER)
            break;
        rlen = (size_t)r[3] << 8 | r[4];
        if (rlen == 0 || rlen > RECORD_MAX)
            return no_name(name, why, "a TLS record of a bad length");
        take = avail - RECORD_HEADER < rlen ? avail - RECORD_HEADER : rlen;
        if (need && take > need - have)
            take = need - have;
        if (take > sizeof(msg) - have)
            take = sizeof(msg) - have;
        memcpy(msg + have, r + RECORD_HEADER, take);
        have += take;
        if (have >= 1 && msg[0] != HANDSHAKE_HELLO)
            return no_name(name, why, "a handshake that is not a ClientHello");
        if (!need && have >= HANDSHAKE_HEADER) {
            need = HANDSHAKE_HEADER + ((size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3]);
            if (need > sizeof(msg))
                return no_name(name, why, "a ClientHello longer than 16 KiB");
        }
        if (need && have >= need)
            return hello_body((struct cursor){msg + HANDSHAKE_HEADER, need - HANDSHAKE_HEADER},
                              name, why);
        if (avail - RECORD_HEADER < rlen)
            break; /* this record is still arriving */
        off += RECORD_HEADER + rlen;
    }
    if (len >= TLSHELLO_PEEK)
        return no_name(name, why, "a ClientHello in too many records");
    *why = "";
    return TLSHELLO_MORE;
}
