/* The CA hash of a K3s token (K10<hash>::...), computed from a server's /cacerts bundle the way
 * K3s computes it (k3s-io/k3s pkg/clientaccess/token.go, hashCA): a bundle of one certificate
 * is hashed as the file's bytes; a bundle of more is hashed as the DER of the root certificate
 * that the first one chains to, so that a cluster CA signed by a custom root or through an
 * intermediate keeps its hash across renewals. Used by the k3s check and the agent. */
#ifndef K3LB_TLS_CAHASH_H
#define K3LB_TLS_CAHASH_H

#include <stddef.h>

/* How the bundle was hashed, for messages. */
enum tls_ca_hashed {
    TLS_CA_UNPARSED = 0, /* no certificate could be read: K3s's hash is empty, never a match */
    TLS_CA_FILE,         /* the bytes of the bundle (one certificate, or no chain to a root) */
    TLS_CA_ROOT,         /* the DER of the root the first certificate chains to */
};

struct tls_ca_hash {
    enum tls_ca_hashed how;
    unsigned certs; /* certificates read from the bundle */
    char hex[65];   /* sha256, lowercase hex; "" when how is TLS_CA_UNPARSED */
    char root[128]; /* TLS_CA_ROOT: the root's subject, one line */
};

/* Computes the hash of a PEM bundle. Pure: no I/O, the system's trust store is not used. */
void tls_ca_hash(const char *pem, size_t len, struct tls_ca_hash *out);

/* "the bundle's bytes (1 certificate)", "the root CN=... (3 certificates)", ...: how the hash
 * was made, for a mismatch message. */
void tls_ca_hash_describe(const struct tls_ca_hash *h, char *buf, size_t len);

#endif
