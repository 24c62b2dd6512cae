/* http and https checks: GET the path, the status must be expected and the body contain
 * expect_body. Credentials (bearer or basic) come from health.auth. */
#include "health/http.h"

#include "config/keys.h"

static void http_start(struct health_probe *p)
{
    const struct health_params *hp = &p->t->p;
    health_http_get(p, config_check_kinds[hp->kind].uses_tls ? hp->tls : NULL, hp->path,
                    hp->authorization, health_http_judge);
}

const struct health_check_ops check_http_ops = {
    .name = "http",
    .start = http_start,
};
