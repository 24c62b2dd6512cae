/* libFuzzer target: the admin requests' JSON bodies (admin/body.c), as any client may send
 * them. Any bytes must be taken or refused with a reason, never crash or leak; what is taken
 * must be within the bounds the runtime is promised (a weight 0..256, a known state, at least
 * one of them for a change). */
#include "admin/body.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char why[256], **list;
    size_t n;
    struct admin_body_add add;
    struct admin_body_set set;
    if (admin_body_add(text, size, &add, why, sizeof(why)) == 0) {
        if (!add.address || add.weight > 256)
            abort();
        free(add.address);
    } else if (!why[0]) {
        abort(); /* a refusal always says why */
    }
    if (admin_body_set(text, size, &set, why, sizeof(why)) == 0) {
        if (set.state < -1 || set.state > 2 || set.weight < -1 || set.weight > 256 ||
            (set.state < 0 && set.weight < 0))
            abort();
    }
    if (admin_body_list(text, size, &list, &n, why, sizeof(why)) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!list[i])
                abort();
        admin_body_list_free(list, n);
    }
    return 0;
}
