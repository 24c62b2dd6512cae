/* libFuzzer target: any bytes as a config file must give a snapshot or errors with positions,
 * never a crash, a hang or a leak. */
#include "config/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    struct config_errors errs = {0};
    struct config *c;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    c = config_build(NULL, text, NULL, 0, &errs);
    if (c) {
        char why[64];
        config_needs_restart(c, c, why, sizeof(why));
        config_unref(c);
    } else if (errs.n == 0) {
        abort(); /* a refused config must say why */
    }
    config_errors_free(&errs);
    free(text);
    return 0;
}
