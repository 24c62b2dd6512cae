/* libFuzzer target: any bytes as the answer to a health check's HTTP request must parse or be
 * refused, never crash or read out of bounds; a parsed body read as kube-apiserver's /readyz
 * answer gives failed check names that fit the space given, one NUL-terminated string. */
#include "health/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct health_http_response r;
    for (int eof = 0; eof < 2; eof++) {
        char *buf = malloc(size + 1);
        if (!buf)
            return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        if (health_http_parse(buf, size, eof, &r) == 1 &&
            (r.status < 100 || r.status > 599 || r.body < buf || r.body + r.body_len > buf + size ||
             r.body[r.body_len] != '\0'))
            abort(); /* the body must lie inside what arrived, and end in a NUL */
        if (eof) {
            char names[40];
            health_readyz_failed(buf, names, sizeof(names));
            if (strlen(names) >= sizeof(names))
                abort();
        }
        free(buf);
    }
    return 0;
}
