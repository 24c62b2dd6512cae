/* libFuzzer target: the K3LB_INHERIT_LISTEN text a binary upgrade reads from its environment.
 * Any bytes must parse entry by entry or be skipped, never crash or hand out a negative fd. */
#include "common/upgrade.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    if (!spec)
        return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    upgrade_parse_listen(spec);
    /* ask for the first address written, whatever it is */
    char *eq = strchr(spec, '=');
    if (eq) {
        *eq = '\0';
        char *semi = strrchr(spec, ';');
        const char *name = semi ? semi + 1 : spec;
        for (size_t i = 0; i < 4; i++)
            if (upgrade_take_listen(name, i) < -1)
                abort();
    }
    upgrade_forget();
    free(spec);
    return 0;
}
