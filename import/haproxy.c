/* k3lb import-haproxy's entry: the config read (import/hx_read.c), then written as k3lb YAML
 * (import/hx_write.c), the warnings of both in one stream. A room of its own above config/:
 * text to text, it needs the snapshot's vocabulary (durations) but not the snapshot. */
#include "import/haproxy.h"

#include "import/hx_read.h"
#include "import/hx_write.h"

#include <stdlib.h>
#include <string.h>

void haproxy_import(const char *name, const char *text, size_t len, struct haproxy_import *out)
{
    struct hx h = {.file = name};
    size_t yaml_len = 0, warn_len = 0;
    FILE *y;

    memset(out, 0, sizeof(*out));
    h.warn = open_memstream(&out->warnings, &warn_len);
    y = open_memstream(&out->yaml, &yaml_len);
    if (len > HAPROXY_IMPORT_MAX)
        len = HAPROXY_IMPORT_MAX;
    hx_read(&h, text, len);
    hx_write_yaml(&h, y);
    fclose(y);
    fclose(h.warn);
    out->n_warnings = h.n_warnings;
    out->differs = h.differs;
    hx_release(&h);
}

void haproxy_import_free(struct haproxy_import *out)
{
    free(out->yaml);
    free(out->warnings);
    memset(out, 0, sizeof(*out));
}
