/* What the importer's reader and writer share: the warning line, and HAProxy's way of writing
 * times and numbers. */
#include "import/hx.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A word as a warning shows it: at most 80 bytes, control bytes (a "\n" the reader unescaped)
 * as '?', so that each warning stays one line. */
static void word(FILE *out, const char *w)
{
    for (size_t i = 0; w[i] && i < 80; i++)
        fputc((unsigned char)w[i] < 0x20 || w[i] == 0x7f ? '?' : w[i], out);
}

void hx_warn(struct hx *h, bool differs, char **tok, size_t n, const char *why)
{
    fprintf(h->warn, "%s:%u: directive not supported: ", h->file, h->line);
    for (size_t i = 0; i < n && i < 8; i++) {
        fputs(i ? " " : "", h->warn);
        word(h->warn, tok[i]);
    }
    fprintf(h->warn, "%s", n > 8 ? " ..." : "");
    if (why)
        fprintf(h->warn, " (%s)", why);
    fputs("\n", h->warn);
    h->n_warnings++;
    h->differs |= differs;
}

void hx_warn_about(struct hx *h, unsigned line, const char *what, const char *name, const char *why)
{
    char *tok[] = {(char *)what, (char *)name};
    h->line = line;
    hx_warn(h, true, tok, 2, why);
}

/* HAProxy times: a number with us, ms, s, m, h or d; ms without a unit. 0 on error. */
uint64_t hx_time(const char *s)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9')
        return 0;
    v = strtoull(s, &end, 10);
    if (v > 1000000000ull)
        return 0;
    if (!*end || strcmp(end, "ms") == 0)
        return v;
    if (strcmp(end, "us") == 0)
        return (v + 999) / 1000;
    if (strcmp(end, "s") == 0)
        return v * 1000;
    if (strcmp(end, "m") == 0)
        return v * 60000;
    if (strcmp(end, "h") == 0)
        return v * 3600000;
    if (strcmp(end, "d") == 0)
        return v * 86400000;
    return 0;
}

bool hx_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;
    if (!s || *s < '0' || *s > '9')
        return false;
    v = strtoul(s, &end, 10);
    if (*end || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

void hx_set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? xstrdup(s) : NULL;
}

void hx_route_free(struct hx_route *r)
{
    free(r->backend);
    free(r->acl);
    for (size_t i = 0; i < r->n_names; i++)
        free(r->names[i]);
    free(r);
}
