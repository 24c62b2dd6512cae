/* The JSON bodies of the admin requests, read from the bytes alone, so that each reader is
 * fuzzed on its own. Every reader answers 0, or -1 with why (a 400 for the client). */
#ifndef K3LB_ADMIN_BODY_H
#define K3LB_ADMIN_BODY_H

#include <stddef.h>

/* POST /backends/{backend}/servers: {"address": "host:port", "weight": 0..256 (default 1)}. */
struct admin_body_add {
    char *address; /* malloc'd */
    unsigned weight;
};
int admin_body_add(const char *text, size_t len, struct admin_body_add *out, char *why,
                   size_t whylen);

/* PUT /backends/{backend}/servers/{server}: {"state": "ready|drain|maint", "weight": 0..256},
 * one or both; -1 in a field not given. */
struct admin_body_set {
    int state; /* index into lb_admin_state_names, or -1 */
    int weight;
};
int admin_body_set(const char *text, size_t len, struct admin_body_set *out, char *why,
                   size_t whylen);

/* PUT /servers: a JSON list of "host:port" strings; *list and its strings are malloc'd
 * (admin_body_list_free). */
int admin_body_list(const char *text, size_t len, char ***list, size_t *n, char *why,
                    size_t whylen);
void admin_body_list_free(char **list, size_t n);

#endif
