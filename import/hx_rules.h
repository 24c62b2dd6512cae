/* Directives of a frontend that become routes and source limits (import/hx_rules.c). Inside
 * import/ only. */
#ifndef K3LB_IMPORT_HX_RULES_H
#define K3LB_IMPORT_HX_RULES_H

#include "import/hx-t.h"

/* acl NAME req.ssl_sni ...: kept for the use_backend lines that name it. */
void hx_acl(struct hx *h, struct hx_proxy *p, char **tok, size_t n);
/* use_backend NAME if <conditions on req.ssl_sni>: a route. */
void hx_use_backend(struct hx *h, struct hx_proxy *p, char **tok, size_t n);
/* tcp-request: inspect-delay, the hello accept rule, track-sc0 src, reject rules of limits. */
void hx_tcp_request(struct hx *h, struct hx_proxy *p, char **tok, size_t n);
/* stick-table ... store conn_rate(<period>): the period of source_max_rate. */
void hx_stick_table(struct hx *h, struct hx_proxy *p, char **tok, size_t n);

#endif
