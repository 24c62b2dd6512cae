/* libFuzzer target: the agent-check answer reader (health/agent.c). Any bytes give a verdict,
 * never a crash or a read past them; what is accepted is within the protocol's bounds, and an
 * error names the word at fault in printable text. */
#include "health/agent.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct health_agent_reply r;
    char err[120] = "";
    char *b = malloc(size ? size : 1); /* exactly size bytes: ASan sees any read past */
    if (!b)
        return 0;
    memcpy(b, data, size);
    if (health_agent_parse(b, size, &r, err, sizeof(err)) == 0) {
        if (r.weight_pct < -1 || r.weight_pct > 100 || r.admin < -1 || r.admin > 2 || r.up < -1 ||
            r.up > 1 || r.maxconn < -1 || r.maxconn > 1000000 || strlen(r.why) >= sizeof(r.why))
            abort();
        for (const char *s = r.why; *s; s++)
            if (*s < 0x20 || *s > 0x7e)
                abort();
    } else {
        for (const char *s = err; *s; s++)
            if (*s < 0x20 || *s > 0x7e)
                abort();
    }
    free(b);
    return 0;
}
