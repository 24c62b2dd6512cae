/* libFuzzer target: any bytes as an HAProxy config for k3lb import-haproxy. The import must
 * always write a config and count its warnings right, never crash or read past the input; and
 * what it writes must be YAML the config loader either takes or refuses with errors, since
 * names and addresses from the input end up quoted inside it. */
#include "config/config.h"
#include "import/haproxy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct haproxy_import im;
    struct config_errors errs = {0};
    struct config *c;
    size_t lines = 0;
    char *text = malloc(size ? size : 1); /* exactly size bytes: ASan sees any read past */

    if (!text)
        return 0;
    memcpy(text, data, size);
    haproxy_import("fuzz.cfg", text, size, &im);
    free(text);
    if (!im.yaml || !im.warnings)
        abort();
    for (const char *p = im.warnings; *p; p++)
        lines += *p == '\n';
    if (lines != im.n_warnings)
        abort();
    c = config_build(NULL, im.yaml, NULL, 0, &errs);
    if (c)
        config_unref(c);
    else if (errs.n == 0)
        abort();
    for (size_t i = 0; i < errs.n; i++) { /* a quoted name must not break the YAML itself */
        const char *msg = errs.list[i].text;
        for (int colons = 0; *msg && colons < 3; msg++) /* past "file:line:col:" */
            colons += *msg == ':';
        if (strncmp(msg, " YAML syntax", 12) == 0)
            abort();
    }
    config_errors_free(&errs);
    haproxy_import_free(&im);
    return 0;
}
