/* libFuzzer target: the ClientHello reader (common/tlshello.c), every prefix of the input as it
 * may arrive in pieces. Any bytes must give a verdict, never a crash or a read past them; the
 * peek bound always decides; once decided, more bytes do not change the verdict; a name found
 * is a lower-case host name within bounds. */
#include "common/tlshello.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void host_name(const char *s)
{
    size_t n = strlen(s);
    if (n >= TLSHELLO_NAME_MAX || s[0] == '.' || (n && s[n - 1] == '.') || strstr(s, ".."))
        abort();
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              *s == '.'))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char first[TLSHELLO_NAME_MAX] = "";
    bool decided = false;
    /* Each prefix, in steps that keep long inputs fast: all of the first 600 bytes, then every
     * 97th, and always the whole. */
    for (size_t n = 0; n <= size && n <= TLSHELLO_PEEK; n = n < 600 ? n + 1 : n + 97) {
        unsigned char *b = malloc(n ? n : 1); /* exactly n bytes: ASan sees any read past */
        char name[TLSHELLO_NAME_MAX];
        const char *why = NULL;
        enum tlshello_status st;
        if (!b)
            return 0;
        memcpy(b, data, n);
        st = tlshello_parse(b, n, name, &why);
        free(b);
        if (!why)
            abort();
        if (st == TLSHELLO_MORE && n >= TLSHELLO_PEEK)
            abort(); /* the bound always decides */
        if (st == TLSHELLO_MORE && decided)
            abort(); /* decided, then not */
        if (st == TLSHELLO_DONE) {
            host_name(name);
            if (decided && strcmp(name, first) != 0)
                abort(); /* more bytes changed the name */
            if (!decided)
                memcpy(first, name, sizeof(first));
            decided = true;
        }
    }
    return 0;
}
