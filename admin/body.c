/* Readers of the admin requests' JSON bodies (see body.h). A body is parsed once by cJSON;
 * each field is checked for its type and range before it is used, and a refusal says what the
 * request should have carried. */
#include "admin/body.h"
#include "common/xalloc.h"

#include "lb/server.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The body as JSON, or NULL with why. */
static cJSON *parse(const char *text, size_t len, char *why, size_t whylen)
{
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!doc)
        snprintf(why, whylen, "the body is not valid JSON");
    return doc;
}

/* A weight 0..256, or -1 when j is not one. */
static int weight_of(const cJSON *j)
{
    return cJSON_IsNumber(j) && j->valuedouble >= 0 && j->valuedouble <= 256 ? (int)j->valuedouble
                                                                             : -1;
}

int admin_body_add(const char *text, size_t len, struct admin_body_add *out, char *why,
                   size_t whylen)
{
    cJSON *doc = parse(text, len, why, whylen), *addr, *weight;
    int rc = -1;
    if (!doc)
        return -1;
    addr = cJSON_GetObjectItemCaseSensitive(doc, "address");
    weight = cJSON_GetObjectItemCaseSensitive(doc, "weight");
    if (!cJSON_IsString(addr) || (weight && weight_of(weight) < 0)) {
        snprintf(why, whylen, "want an address (\"host:port\") and an optional weight 0..256");
    } else {
        out->address = xstrdup(addr->valuestring);
        out->weight = weight ? (unsigned)weight_of(weight) : 1;
        rc = 0;
    }
    cJSON_Delete(doc);
    return rc;
}

static int state_of(const char *s)
{
    for (int i = 0; lb_admin_state_names[i]; i++)
        if (strcmp(s, lb_admin_state_names[i]) == 0)
            return i;
    return -1;
}

int admin_body_set(const char *text, size_t len, struct admin_body_set *out, char *why,
                   size_t whylen)
{
    cJSON *doc = parse(text, len, why, whylen), *state, *weight;
    bool bad;
    if (!doc)
        return -1;
    state = cJSON_GetObjectItemCaseSensitive(doc, "state");
    weight = cJSON_GetObjectItemCaseSensitive(doc, "weight");
    out->state = state && cJSON_IsString(state) ? state_of(state->valuestring) : -1;
    out->weight = weight ? weight_of(weight) : -1;
    bad = (state && out->state < 0) || (weight && out->weight < 0) || (!state && !weight);
    cJSON_Delete(doc);
    if (bad)
        snprintf(why, whylen, "want \"state\" (ready, drain or maint) and/or \"weight\" 0..256");
    return bad ? -1 : 0;
}

int admin_body_list(const char *text, size_t len, char ***list, size_t *n, char *why, size_t whylen)
{
    cJSON *doc = parse(text, len, why, whylen), *item;
    char **v;
    size_t k = 0;
    if (!doc)
        return -1;
    if (!cJSON_IsArray(doc)) {
        snprintf(why, whylen, "body must be a JSON list of \"host:port\" strings");
        cJSON_Delete(doc);
        return -1;
    }
    v = xcalloc((size_t)cJSON_GetArraySize(doc) + 1, sizeof(*v));
    cJSON_ArrayForEach(item, doc)
    {
        if (!cJSON_IsString(item)) {
            snprintf(why, whylen, "every entry must be a \"host:port\" string");
            admin_body_list_free(v, k);
            cJSON_Delete(doc);
            return -1;
        }
        v[k++] = xstrdup(item->valuestring);
    }
    cJSON_Delete(doc);
    *list = v;
    *n = k;
    return 0;
}

void admin_body_list_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}
