/* libFuzzer target: the PROXY protocol header reader (common/proxyproto.c), every prefix of the
 * input as it may arrive in pieces. Any bytes must give a verdict, never a crash or a read past
 * them; a verdict must come by the 1024-byte bound; once a header is complete, more bytes do not
 * change it; what was read, written by k3lb, reads back as what writes the same bytes. */
#include "common/proxyproto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            abort();
}

/* Written, read and written again: the same bytes (the first writing may fold IPv4-mapped
 * addresses into IPv4, so the addresses read back are compared through their writing). */
static void round_trip(const struct proxyproto_addrs *a)
{
    unsigned char x[PROXYPROTO_BUILD_MAX], y[PROXYPROTO_BUILD_MAX];
    struct proxyproto_addrs b;
    char err[200];
    size_t used, n = proxyproto_build(a->version, (const void *)&a->src, (const void *)&a->dst, x);
    if (n > PROXYPROTO_BUILD_MAX ||
        proxyproto_parse(x, n, &b, &used, err, sizeof(err)) != PROXYPROTO_DONE || used != n ||
        !b.has || b.version != a->version)
        abort();
    if (proxyproto_build(b.version, (const void *)&b.src, (const void *)&b.dst, y) != n ||
        memcmp(x, y, n) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t done_at = 0, done_used = 0;
    for (size_t n = 0; n <= size && n <= PROXYPROTO_MAX + 1; n++) {
        unsigned char *b = malloc(n ? n : 1); /* exactly n bytes: ASan sees any read past */
        struct proxyproto_addrs a;
        char err[200] = "";
        size_t used = 0;
        enum proxyproto_status st;
        if (!b)
            return 0;
        memcpy(b, data, n);
        st = proxyproto_parse(b, n, &a, &used, err, sizeof(err));
        free(b);
        printable(err);
        if (st == PROXYPROTO_MORE && n >= PROXYPROTO_MAX)
            abort(); /* the bound always decides */
        if (st == PROXYPROTO_DONE) {
            if (used == 0 || used > n || used > PROXYPROTO_MAX)
                abort();
            if (done_at && used != done_used)
                abort(); /* more bytes changed a complete header */
            if (!done_at) {
                done_at = n;
                done_used = used;
            }
            if (a.has && n == done_at)
                round_trip(&a);
        } else if (done_at) {
            abort(); /* complete, then not */
        }
    }
    return 0;
}
