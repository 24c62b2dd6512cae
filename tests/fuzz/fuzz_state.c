/* libFuzzer target: the agent's state file (K3s's {"ServerURL", "ServerAddresses"} shape), as
 * a crash, a full disk or another program may have left it. Any bytes must load as a list (or
 * as none, with a log line), never crash; what loads must save and load back as the same set. */
#include "agent/list.h"
#include "common/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char url[] = "https://k3s.example:6443";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    struct agent_list l = {0}, again = {0};
    FILE *f;
    if (!path[0]) {
        snprintf(path, sizeof(path), "/tmp/k3lb-fuzz-state-%d.json", (int)getpid());
        log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT); /* a line per bad file would drown it */
    }
    f = fopen(path, "w");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    agent_state_load(path, url, &l);
    if (l.n > AGENT_LIST_MAX)
        abort();
    if (agent_state_save(path, url, &l) == 0) {
        agent_state_load(path, url, &again);
        if (!agent_list_same_set(&l, &again))
            abort(); /* what k3lb writes it must read back */
    }
    agent_list_clear(&l);
    agent_list_clear(&again);
    unlink(path);
    return 0;
}
