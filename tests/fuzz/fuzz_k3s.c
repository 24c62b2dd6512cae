/* libFuzzer target: the K3s answers the agent follows (agent/answers.c), /v1-k3s/apiservers,
 * /db/info and /v1-k3s/config, as any server (or anything in its place) may send them. Any
 * bytes must give a list or nothing, never a crash; every address taken must be one the agent
 * would take from a user, the list stays within its bound, sorted and without duplicates. */
#include "agent/answers.h"
#include "common/net-t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct agent_list *l)
{
    char norm[NET_ADDRSTRLEN];
    if (l->n > AGENT_LIST_MAX)
        abort();
    for (size_t i = 0; i < l->n; i++) {
        if (!agent_valid_address(l->v[i], norm, sizeof(norm)) || strcmp(norm, l->v[i]) != 0)
            abort(); /* taken, but not as the agent would take it from a user */
        if (i && strcmp(l->v[i - 1], l->v[i]) >= 0)
            abort(); /* unsorted or a duplicate */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct agent_list l = {0};
    int sup, https;
    if (agent_parse_apiservers(body, size, 0, &l) == 0)
        check(&l);
    agent_list_clear(&l);
    if (agent_parse_apiservers(body, size, 9345, &l) == 0)
        check(&l);
    agent_list_clear(&l);
    agent_parse_members(body, size, &l);
    check(&l);
    agent_list_clear(&l);
    (void)agent_parse_ports(body, size, &sup, &https);
    return 0;
}
