/* libFuzzer target: any request path against the admin route table must match or not, never
 * crash; a name that matched and is filled back in by a client must match again to the same
 * name (what ctl encodes, the server decodes), and a name put into a query by ctl comes out of
 * the server's query parser unchanged. The first byte picks the route. */
#include "admin/api.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ?frontend=<name> as ctl writes it, read back as the server reads it. */
static void query_round_trip(const char *name)
{
    char q[2048] = "/healthz";
    struct evkeyvalq kv;
    const char *back;
    if (!admin_query_append(q, sizeof(q), "frontend", name))
        return;
    if (evhttp_parse_query_str(strchr(q, '?') + 1, &kv) != 0)
        abort();
    back = evhttp_find_header(&kv, "frontend");
    if (!back || strcmp(back, name) != 0)
        abort();
    evhttp_clear_headers(&kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct admin_path_args args, again;
    char *path, out[2048];
    if (size < 1)
        return 0;
    const struct admin_route *r = &admin_routes[data[0] % admin_n_routes];
    path = malloc(size);
    if (!path)
        return 0;
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    if (admin_route_match(r, path, &args) &&
        admin_route_path(r, args.backend, args.server, out, sizeof(out)) &&
        (!admin_route_match(r, out, &again) || strcmp(args.backend, again.backend) != 0 ||
         strcmp(args.server, again.server) != 0))
        abort();
    query_round_trip(path);
    free(path);
    return 0;
}
