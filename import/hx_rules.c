/* The importer's rules that need more than one word at a time: SNI routes from use_backend
 * conditions and acls of req.ssl_sni, the hello's inspect-delay, and per-source limits from the
 * stick-table idioms (track-sc0 src, reject if { sc_conn_cur(0) gt N }). */
#include "import/hx_rules.h"
#include "common/xalloc.h"

#include "import/hx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SNI routes, per-source limits --------------------------------------------------------- */

static bool is_sni_fetch(const char *w)
{
    return strcmp(w, "req.ssl_sni") == 0 || strcmp(w, "req_ssl_sni") == 0;
}

static void route_add(struct hx_route *r, const char *name)
{
    char *n = xstrdup(name);
    for (char *c = n; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (r->n_names < MAX_TOKENS)
        r->names[r->n_names++] = n;
    else
        free(n);
}

/* `req.ssl_sni [-i] [-m str|end] value...` from tok[i] (after the fetch) to end: its names
 * into r. false when the match cannot be written as routes. */
static bool sni_match(struct hx *h, char **tok, size_t i, size_t end, struct hx_route *r)
{
    const char *m = "str";
    for (; i < end && tok[i][0] == '-'; i++) {
        if (strcmp(tok[i], "-m") == 0 && i + 1 < end)
            m = tok[++i];
        else if (strcmp(tok[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(tok[i], "-i") != 0)
            return false; /* -f (a file of patterns), -M, ... */
    }
    if (i == end || (strcmp(m, "str") != 0 && strcmp(m, "end") != 0 && strcmp(m, "dom") != 0))
        return false;
    for (; i < end; i++) {
        char wild[300];
        if (strcmp(m, "str") == 0) {
            route_add(r, tok[i]);
            continue;
        }
        /* end ".a.example" is *.a.example; end or dom "a.example" also takes the name itself
         * (and, for HAProxy, "xa.example" with end: k3lb matches whole labels) */
        snprintf(wild, sizeof(wild), "*.%s", tok[i] + (tok[i][0] == '.'));
        if (tok[i][0] != '.')
            route_add(r, tok[i]);
        route_add(r, wild);
        if (strcmp(m, "end") == 0 && tok[i][0] != '.')
            hx_warn(h, true, &tok[i], 1,
                    "-m end: k3lb matches a suffix on a label boundary (name and *.name, not "
                    "xname)");
    }
    return true;
}

static const struct hx_route *acl_named(const struct hx_proxy *p, const char *name)
{
    for (size_t i = 0; i < p->n_acls; i++)
        if (strcmp(p->acls[i]->acl, name) == 0)
            return p->acls[i];
    return NULL;
}

/* `cond [|| cond]...` from tok[i]: each an anonymous { req.ssl_sni ... } or an acl of them. */
static bool sni_condition(struct hx *h, struct hx_proxy *p, char **tok, size_t i, size_t n,
                          struct hx_route *r)
{
    for (bool want = true; i < n; want = !want) {
        if (!want) { /* between terms: only OR (AND would need both names at once) */
            if (strcmp(tok[i], "||") != 0 && strcmp(tok[i], "or") != 0)
                return false;
            i++;
            continue;
        }
        if (strcmp(tok[i], "{") == 0) {
            size_t close = i + 1;
            while (close < n && strcmp(tok[close], "}") != 0)
                close++;
            if (close == n || close < i + 2 || !is_sni_fetch(tok[i + 1]) ||
                !sni_match(h, tok, i + 2, close, r))
                return false;
            i = close + 1;
            continue;
        }
        const struct hx_route *a = acl_named(p, tok[i]);
        if (!a)
            return false;
        for (size_t k = 0; k < a->n_names; k++)
            route_add(r, a->names[k]);
        i++;
    }
    return r->n_names > 0;
}

/* acl NAME req.ssl_sni ...: kept for the use_backend lines that name it. Other acls are
 * warned about where a rule uses them. */
void hx_acl(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    struct hx_route *r;
    if (n < 4 || !is_sni_fetch(tok[2]) || p->n_acls == MAX_ITEMS) {
        hx_warn(h, true, tok, n, "k3lb routes only by the TLS server name (req.ssl_sni)");
        return;
    }
    r = xcalloc(1, sizeof(*r));
    r->acl = xstrdup(tok[1]);
    if (!sni_match(h, tok, 3, n, r)) {
        hx_warn(h, true, tok, n, "an SNI match k3lb cannot write (str, end and dom are)");
        hx_route_free(r);
        return;
    }
    if (acl_named(p, tok[1])) { /* HAProxy ORs acls of one name */
        struct hx_route *old = (struct hx_route *)acl_named(p, tok[1]);
        for (size_t i = 0; i < r->n_names; i++)
            route_add(old, r->names[i]);
        hx_route_free(r);
        return;
    }
    p->acls[p->n_acls++] = r;
}

void hx_use_backend(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    struct hx_route *r = xcalloc(1, sizeof(*r));
    r->backend = xstrdup(tok[1]);
    r->line = h->line;
    if (strcmp(tok[2], "if") != 0 || p->n_routes == MAX_ITEMS ||
        !sni_condition(h, p, tok, 3, n, r)) {
        hx_warn(h, true, tok, n,
                "k3lb routes by the TLS server name only: use_backend NAME if "
                "{ req.ssl_sni -i name } [|| ...], or acls of req.ssl_sni");
        hx_route_free(r);
        return;
    }
    p->routes[p->n_routes++] = r;
}

/* `reject if { sc_conn_cur(0) gt N }` and its spellings (sc0_conn_cur, src_conn_cur; _rate
 * alike), tok[3..8]: the limit k3lb writes (gt N lets N through, ge N lets N - 1). */
static bool source_limit(struct hx_proxy *p, char **tok, size_t n)
{
    unsigned v, limit;
    const char *f = n == 9 ? tok[5] : "";
    bool cur = strstr(f, "conn_cur") != NULL, rate = strstr(f, "conn_rate") != NULL;
    bool ge = n == 9 && strcmp(tok[6], "ge") == 0, gt = n == 9 && strcmp(tok[6], "gt") == 0;
    if (n != 9 || strcmp(tok[3], "if") != 0 || strcmp(tok[4], "{") != 0 ||
        strcmp(tok[8], "}") != 0 || !hx_uint(tok[7], 1000000, &v) || (!cur && !rate) ||
        (!ge && !gt) ||
        (strncmp(f, "sc_", 3) != 0 && strncmp(f, "sc0_", 4) != 0 && strncmp(f, "src_", 4) != 0))
        return false;
    limit = ge ? (v ? v - 1 : 0) : v;
    if (!limit)
        return false; /* refuses every client: no k3lb limit says that */
    *(cur ? &p->src_conns : &p->src_rate) = limit;
    return true;
}

void hx_tcp_request(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    uint64_t t;
    if (n == 3 && strcmp(tok[1], "inspect-delay") == 0 && (t = hx_time(tok[2]))) {
        p->inspect_delay = t;
    } else if (n == 8 && strcmp(tok[1], "content") == 0 && strcmp(tok[2], "accept") == 0 &&
               strcmp(tok[3], "if") == 0 && strcmp(tok[4], "{") == 0 &&
               (strcmp(tok[5], "req.ssl_hello_type") == 0 ||
                strcmp(tok[5], "req_ssl_hello_type") == 0) &&
               strcmp(tok[6], "1") == 0 && strcmp(tok[7], "}") == 0) {
        /* wait for the ClientHello: what a frontend with routes does */
    } else if ((n == 4 || (n == 6 && strcmp(tok[4], "table") == 0)) &&
               strcmp(tok[1], "connection") == 0 && strncmp(tok[2], "track-sc", 8) == 0 &&
               strcmp(tok[3], "src") == 0) {
        /* the per-source counting the reject rules read; the table's rate period counts */
        if (n == 6)
            hx_set_str(&p->rate_table, tok[5]);
    } else if (n == 9 && strcmp(tok[1], "connection") == 0 && strcmp(tok[2], "reject") == 0 &&
               source_limit(p, tok, n)) {
        if (strstr(tok[5], "conn_rate"))
            hx_warn(h, false, tok, n,
                    "source_max_rate: refused attempts do not count against the client in k3lb");
    } else {
        hx_warn(h, true, tok, n, NULL);
    }
}

/* stick-table ... store conn_cur,conn_rate(<period>): the rate's period, for source_max_rate. */
void hx_stick_table(struct hx *h, struct hx_proxy *p, char **tok, size_t n)
{
    (void)h;
    for (size_t i = 1; i + 1 < n; i++) {
        const char *r = strcmp(tok[i], "store") == 0 ? strstr(tok[i + 1], "conn_rate(") : NULL;
        const char *close = r ? strchr(r, ')') : NULL;
        char period[32];
        if (!close || (size_t)(close - r - 10) >= sizeof(period))
            continue;
        snprintf(period, sizeof(period), "%.*s", (int)(close - r - 10), r + 10);
        p->rate_period = hx_time(period);
    }
}
