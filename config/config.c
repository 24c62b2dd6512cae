/* Snapshot life cycle: read the source, place overrides, apply the key table, hand out
 * references. */
#include "config/config.h"
#include "config/validate.h"
#include "common/xalloc.h"

#include "config/agent.h"
#include "config/apply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_FILE_MAX (4 * 1024 * 1024) /* a config larger than this is a mistake */

static char *read_file(const char *path, size_t *len, struct config_errors *errs)
{
    struct config_mark m = {config_intern(path), 0, 0};
    FILE *f = fopen(path, "rb");
    char *buf;

    if (!f) {
        config_error_add(errs, m, "cannot open: %s", strerror(errno));
        return NULL;
    }
    buf = xmalloc(CONFIG_FILE_MAX + 1);
    *len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f) || *len > CONFIG_FILE_MAX) {
        config_error_add(errs, m, ferror(f) ? "cannot read: %s" : "larger than 4 MiB%s",
                         ferror(f) ? strerror(errno) : "");
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Returns the child of node at one path component, creating it (as a map, or as a list when
 * the next component is a number) when missing. */
static struct config_node *step(struct config_node *node, const char *comp, bool next_is_index,
                                struct config_mark mark)
{
    enum config_node_type want = next_is_index ? CONFIG_NODE_SEQ : CONFIG_NODE_MAP;
    char *end;
    unsigned long idx;

    if (node->type == CONFIG_NODE_SEQ) {
        idx = strtoul(comp, &end, 10);
        if (*end || idx > node->n)
            return NULL;
        if (idx == node->n)
            config_node_append(node, config_node_new(want, mark));
        return node->items[idx];
    }
    if (node->type != CONFIG_NODE_MAP)
        return NULL;
    struct config_node *child = config_node_get(node, comp);
    if (!child) {
        child = config_node_new(want, mark);
        config_node_put(node, comp, child);
    }
    return child;
}

static struct config_node *override_value(const struct config_override *ov, struct config_mark m)
{
    if (ov->n_values == 1 && !ov->list)
        return config_node_scalar(ov->values[0], m);
    struct config_node *seq = config_node_new(CONFIG_NODE_SEQ, m);
    for (size_t i = 0; i < ov->n_values; i++)
        config_node_append(seq, config_node_scalar(ov->values[i], m));
    return seq;
}

static void place_override(struct config_node *root, const struct config_override *ov,
                           struct config_errors *errs)
{
    struct config_mark m = {config_intern(ov->origin), 0, 0};
    char path[256], *save = NULL, *comp, *next;
    struct config_node *node = root;

    snprintf(path, sizeof(path), "%s", ov->path);
    comp = strtok_r(path, ".", &save);
    while (comp) {
        next = strtok_r(NULL, ".", &save);
        if (!next) {
            if (node->type != CONFIG_NODE_MAP)
                break;
            for (size_t i = 0; i + 1 < node->n; i += 2)
                if (strcmp(node->items[i]->value, comp) == 0) {
                    config_node_free(node->items[i + 1]);
                    node->items[i + 1] = override_value(ov, m);
                    return;
                }
            config_node_put(node, comp, override_value(ov, m));
            return;
        }
        node = step(node, comp, next[0] >= '0' && next[0] <= '9', m);
        if (!node)
            break;
        comp = next;
    }
    config_error_add(errs, m, "cannot set '%s': the config file has something else there",
                     ov->path);
}

static struct config *build(const char *path, const char *base_yaml,
                            const struct config_override *ov, size_t n_ov,
                            const struct config_agent_defaults *agent, struct config_errors *errs)
{
    struct config_node *root;
    struct config *cfg;
    size_t before = errs->n;

    if (path) {
        size_t len;
        char *text = read_file(path, &len, errs);
        if (!text)
            return NULL;
        root = config_node_parse(text, len, path, errs);
        free(text);
    } else {
        const char *t = base_yaml ? base_yaml : "";
        root = config_node_parse(t, strlen(t), "(built-in)", errs);
    }
    if (!root)
        return NULL;
    for (size_t i = 0; i < n_ov; i++)
        place_override(root, &ov[i], errs);
    if (agent && errs->n == before && root->type == CONFIG_NODE_MAP)
        config_agent_transform(root, agent, errs);
    cfg = xcalloc(1, sizeof(*cfg));
    if (errs->n == before) {
        config_apply(&config_root_section, cfg, root, errs);
        if (root->type == CONFIG_NODE_MAP) /* else there are no objects to relate */
            config_validate(cfg, errs);    /* after every object's own checks */
    }
    config_node_free(root);
    cfg->source = xstrdup(path ? path : "command line");
    atomic_init(&cfg->refs, 1);
    if (errs->n != before) {
        config_unref(cfg);
        return NULL;
    }
    return cfg;
}

struct config *config_build(const char *path, const char *base_yaml,
                            const struct config_override *ov, size_t n_ov,
                            struct config_errors *errs)
{
    return build(path, base_yaml, ov, n_ov, NULL, errs);
}

struct config *config_build_agent(const char *path, const struct config_override *ov, size_t n_ov,
                                  const struct config_agent_defaults *d, struct config_errors *errs)
{
    return build(path, NULL, ov, n_ov, d, errs);
}

struct config *config_ref(struct config *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void config_unref(struct config *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    config_release(&config_root_section, c);
    free(c->source);
    free(c);
}

void config_errors_print(const struct config_errors *errs, FILE *out)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(out, "%s\n", errs->list[i].text);
    if (errs->more)
        fprintf(out, "... and %zu more error%s\n", errs->more, errs->more == 1 ? "" : "s");
    for (size_t i = 0; i < errs->n_warnings; i++)
        fprintf(out, "%s\n", errs->warnings[i].text);
    if (errs->more_warnings)
        fprintf(out, "... and %zu more warning%s\n", errs->more_warnings,
                errs->more_warnings == 1 ? "" : "s");
}

void config_errors_free(struct config_errors *errs)
{
    free(errs->list);
    free(errs->warnings);
    errs->list = errs->warnings = NULL;
    errs->n = errs->n_warnings = errs->more = errs->more_warnings = 0;
}

static bool same_string(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Compares the restart-only keys of one section (and its nested sections). */
static bool restart_diff(const struct config_section *sec, const void *a, const void *b, char *why,
                         size_t whylen)
{
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct config_key *k = &sec->keys[i];
        const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
        bool differ = false;
        if (k->flags & CONFIG_F_LIST)
            continue;
        if (k->type == CONFIG_T_SECTION) {
            if (restart_diff(k->sub, pa, pb, why, whylen))
                return true;
            continue;
        }
        if (!(k->flags & CONFIG_F_RESTART))
            continue;
        if (k->type == CONFIG_T_ADDR)
            differ = !same_string(((const struct net_addr *)pa)->text,
                                  ((const struct net_addr *)pb)->text);
        else if (k->type == CONFIG_T_STRING || k->type == CONFIG_T_FILE)
            differ = !same_string(*(char *const *)pa, *(char *const *)pb);
        else if (k->type == CONFIG_T_UINT || k->type == CONFIG_T_ENUM)
            differ = *(const unsigned *)pa != *(const unsigned *)pb;
        if (differ) {
            snprintf(why, whylen, "%s.%s", sec->name, k->name);
            return true;
        }
    }
    return false;
}

bool config_needs_restart(const struct config *old_cfg, const struct config *new_cfg, char *why,
                          size_t whylen)
{
    return restart_diff(&config_root_section, old_cfg, new_cfg, why, whylen);
}
