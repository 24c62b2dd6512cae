/* libFuzzer target: the first answer of a PostgreSQL or MySQL server as the health checks judge
 * it (health/dbwire.c), every prefix of the input as it may arrive in pieces. Any bytes must
 * give a verdict, never a crash or a read past them; a verdict must come by the protocol's own
 * bound; a greeting taken must fit in what arrived; quoted text must be printable. */
#include "health/dbwire.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char detail[256];
    for (size_t n = 0; n <= size; n++) {
        unsigned char *b = malloc(n ? n : 1); /* exactly n bytes: ASan sees any read past */
        size_t used = 0;
        enum health_wire w;
        if (!b)
            return 0;
        memcpy(b, data, n);
        detail[0] = '\0';
        w = health_pg_first(b, n, n % 2, detail, sizeof(detail));
        if (w == HEALTH_WIRE_MORE && n >= 5)
            abort(); /* five bytes always decide */
        printable(detail);
        detail[0] = '\0';
        w = health_mysql_first(b, n, detail, sizeof(detail), &used);
        if (w == HEALTH_WIRE_OK && (used > n || used < 5))
            abort();
        if (w == HEALTH_WIRE_MORE && n >= HEALTH_MYSQL_GREETING_MAX)
            abort(); /* a greeting's bound always decides */
        printable(detail);
        free(b);
    }
    return 0;
}
