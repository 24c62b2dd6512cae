/* The server name a TLS client asks for, read from its ClientHello without terminating TLS: an
 * SNI-routing frontend peeks the first bytes, picks a backend by the name, and the hello goes on
 * to the server untouched. Pure functions of bytes, no sockets: the data path peeks, the fuzz
 * target feeds anything. */
#ifndef K3LB_COMMON_TLSHELLO_H
#define K3LB_COMMON_TLSHELLO_H

#include <stddef.h>

/* The longest ClientHello message read (its handshake body, from any number of records); a
 * longer one is taken as carrying no name. Post-quantum key shares make hellos of about 1.8 KB;
 * TLS allows 16 KB per record. */
#define TLSHELLO_MAX 16384
/* The most bytes peeked to find it: the message and the headers of the records carrying it
 * (a hello cut in many small records has many headers; beyond this it carries no name). */
#define TLSHELLO_PEEK (TLSHELLO_MAX + 1024)
/* A host name: at most 253 characters (RFC 1035), plus the NUL. */
#define TLSHELLO_NAME_MAX 254

enum tlshello_status {
    TLSHELLO_MORE = 0, /* a ClientHello so far; more bytes are needed */
    TLSHELLO_DONE = 1, /* decided: name holds the server name, or "" (why says why none) */
};

/* Reads the ClientHello at the start of buf (len bytes so far). On DONE, name (at least
 * TLSHELLO_NAME_MAX bytes) holds the host_name of its server_name extension in lower case,
 * without a trailing dot, or is empty: the bytes are not TLS, the hello has no such extension,
 * the name is not a host name, or the hello is longer than the bounds above. ECH and GREASE
 * extensions are passed over (with ECH, the name is the outer hello's public name). */
enum tlshello_status tlshello_parse(const unsigned char *buf, size_t len, char *name,
                                    const char **why);

#endif
