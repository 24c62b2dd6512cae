/* Readers of the K3s answers the agent follows (see answers.h). Every field is checked for its
 * JSON type before use; an address must pass agent_valid_address, so nothing K3s (or whatever
 * answers in its place) sends reaches the balancer unchecked. */
#include "agent/answers.h"

#include "config/value.h"
#include "common/net-t.h"

#include <cjson/cJSON.h>
#include <string.h>

int agent_parse_apiservers(const char *body, size_t len, unsigned rewrite_port,
                           struct agent_list *l)
{
    cJSON *doc = cJSON_ParseWithLength(body, len), *item;
    char addr[NET_ADDRSTRLEN], rewritten[NET_ADDRSTRLEN];
    if (!cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        return -1;
    }
    cJSON_ArrayForEach(item, doc)
    {
        if (!cJSON_IsString(item) || !agent_valid_address(item->valuestring, addr, sizeof(addr)))
            continue;
        if (rewrite_port) {
            config_addr_with_port(addr, rewrite_port, rewritten, sizeof(rewritten));
            agent_list_add(l, rewritten);
        } else {
            agent_list_add(l, addr);
        }
    }
    cJSON_Delete(doc);
    agent_list_sort(l);
    return 0;
}

/* "https://host:port/..." -> "host:port" (port 2379 when it has none); false when it is no URL
 * of a host. */
static bool member_address(const char *url, char *out, size_t len)
{
    const char *h = strstr(url, "://");
    char why[200];
    h = h ? h + 3 : url;
    return config_hostport_default(h, strcspn(h, "/?#"), 2379, out, len, why, sizeof(why));
}

void agent_parse_members(const char *body, size_t len, struct agent_list *l)
{
    cJSON *doc = cJSON_ParseWithLength(body, len), *m, *u;
    cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "members");
    char addr[NET_ADDRSTRLEN];
    if (!cJSON_IsArray(list))
        list = NULL;
    cJSON_ArrayForEach(m, list)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "isLearner")))
            continue;
        cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(m, "clientURLs"))
        {
            if (cJSON_IsString(u) && member_address(u->valuestring, addr, sizeof(addr)))
                agent_list_add(l, addr);
        }
    }
    cJSON_Delete(doc);
    agent_list_sort(l);
}

int agent_parse_ports(const char *body, size_t len, int *supervisor, int *https)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(doc, "SupervisorPort"),
                *hp = cJSON_GetObjectItemCaseSensitive(doc, "HTTPSPort");
    int rc = -1;
    if (cJSON_IsNumber(sp) && cJSON_IsNumber(hp)) {
        *supervisor = sp->valueint;
        *https = hp->valueint;
        rc = 0;
    }
    cJSON_Delete(doc);
    return rc;
}
