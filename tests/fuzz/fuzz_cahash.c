/* libFuzzer target: any bytes as a K3s server's /cacerts bundle. The hash is the bytes' own
 * (one certificate, or no chain to a root), a root's (more than one certificate), or empty (no
 * certificate K3s would read), never a crash or a leak. */
#include "tls/cahash.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tls_ca_hash h;
    unsigned char md[32];
    unsigned int n = 0;
    char hex[65];
    tls_ca_hash((const char *)data, size, &h);
    switch (h.how) {
    case TLS_CA_UNPARSED:
        if (h.hex[0] || h.certs)
            abort();
        break;
    case TLS_CA_FILE:
        EVP_Digest(data, size, md, &n, EVP_sha256(), NULL);
        for (unsigned i = 0; i < n; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (strcmp(hex, h.hex) != 0 || h.certs == 0)
            abort();
        break;
    case TLS_CA_ROOT:
        if (strlen(h.hex) != 64 || h.certs < 2)
            abort();
        break;
    }
    return 0;
}
