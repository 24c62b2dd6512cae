/* http and https checks: GET the path, the status must be expected and the body contain
 * expect_body. Credentials (bearer or basic) come from health.auth. */
#include "health/http.h"

static void http_start(struct health_probe *p)
{
    const struct health_params *hp = &p->t->p;
    health_http_get(p, hp->kind == CONFIG_CHECK_HTTPS ? hp->tls : NULL, hp->path, hp->authorization,
                    health_http_judge);
}

const struct health_check_ops check_http_ops = {
    .name = "http",
    .start = http_start,
};
