/* etcd check: GET /health over TLS (with the client certificate etcd's client-cert-auth asks
 * for); the JSON answer must say "health": "true". A member without quorum answers false. */
#include "health/http.h"

#include <cjson/cJSON.h>
#include <string.h>

static void etcd_judge(struct health_probe *p, const struct health_http_response *r)
{
    cJSON *doc, *health, *reason;
    if (r->status != 200 && r->status != 503) {
        health_http_judge(p, r);
        return;
    }
    doc = cJSON_ParseWithLength(r->body, r->body_len);
    health = cJSON_GetObjectItemCaseSensitive(doc, "health");
    reason = cJSON_GetObjectItemCaseSensitive(doc, "reason");
    if (!cJSON_IsString(health)) {
        health_probe_done(p, HEALTH_RESULT_BAD_BODY, "HTTP %d from %s is not etcd's health JSON",
                          r->status, p->t->p.path);
    } else if (strcmp(health->valuestring, "true") != 0) {
        health_probe_done(p, HEALTH_RESULT_BAD_BODY, "etcd reports unhealthy%s%s",
                          cJSON_IsString(reason) && *reason->valuestring ? ": " : "",
                          cJSON_IsString(reason) ? reason->valuestring : "");
    } else {
        health_probe_done(p, HEALTH_RESULT_OK, "etcd healthy");
    }
    cJSON_Delete(doc);
}

static void etcd_start(struct health_probe *p)
{
    const struct health_params *hp = &p->t->p;
    health_http_get(p, hp->tls, hp->path, hp->authorization, etcd_judge);
}

const struct health_check_ops check_etcd_ops = {
    .name = "etcd",
    .start = etcd_start,
};
