/* The applier: walks a struct config_node tree against the key table and fills the section
 * structs. One code path for YAML and flags, so both get the same checks and messages. Errors
 * are collected (not stopped at) so that one `k3lb check` run shows every mistake. */
#include "config/apply.h"
#include "common/xalloc.h"

#include "config/node.h"
#include "common/net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(obj, off, type) ((type *)((char *)(obj) + (off)))

static size_t elem_size(const struct config_key *k)
{
    switch (k->type) {
    case CONFIG_T_STRING:
    case CONFIG_T_FILE:
        return sizeof(char *);
    case CONFIG_T_UINT:
    case CONFIG_T_ENUM:
        return sizeof(unsigned);
    case CONFIG_T_SIZE:
    case CONFIG_T_DURATION:
        return sizeof(uint64_t);
    case CONFIG_T_BOOL:
        return sizeof(bool);
    case CONFIG_T_ADDR:
        return sizeof(struct net_addr);
    case CONFIG_T_CIDR:
        return sizeof(struct net_cidr);
    case CONFIG_T_SECTION:
        return k->sub->size;
    }
    return 0;
}

static const char *type_word(const struct config_key *k)
{
    static const char *const words[] = {"a string",   "a whole number", "a size",     "a boolean",
                                        "a duration", "a name",         "an address", "a mapping",
                                        "a file",     "a network"};
    return words[k->type];
}

/* A plain "~", "null" or empty scalar is YAML null: the key counts as not given. */
static bool is_null(const struct config_node *n)
{
    return n->type == CONFIG_NODE_SCALAR && n->plain &&
           (!*n->value || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0);
}

static bool apply_map(const struct config_section *sec, void *obj, const struct config_node *map,
                      struct config_errors *errs);

/* Files named in the config are checked when it loads, so `k3lb check` catches a typo. */
static bool readable(const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "cannot read '%s': %s", path, strerror(errno));
        return false;
    }
    fclose(f);
    return true;
}

/* Parses one scalar of key k's type into dst. */
static bool apply_scalar(const struct config_key *k, void *dst, const struct config_node *v,
                         struct config_errors *errs)
{
    char why[256];
    uint64_t u;
    bool ok = true;
    int e;

    if (v->type != CONFIG_NODE_SCALAR) {
        config_error_add(errs, v->mark, "'%s' must be %s, not a %s", k->name, type_word(k),
                         v->type == CONFIG_NODE_MAP ? "mapping" : "list");
        return false;
    }
    switch (k->type) {
    case CONFIG_T_STRING:
        if (!*v->value) {
            config_error_add(errs, v->mark, "'%s' must not be empty", k->name);
            return false;
        }
        *(char **)dst = xstrdup(v->value);
        break;
    case CONFIG_T_FILE:
        if (!readable(v->value, why, sizeof(why))) {
            config_secret_absent(errs, v->mark, "%s: %s", k->name, why);
            if (!errs->lenient_secrets)
                return false;
        }
        *(char **)dst = xstrdup(v->value);
        break;
    case CONFIG_T_UINT:
        ok = config_parse_uint(v->value, k->min, k->max, false, &u, why, sizeof(why));
        if (ok)
            *(unsigned *)dst = (unsigned)u;
        break;
    case CONFIG_T_SIZE:
        ok = config_parse_uint(v->value, k->min, k->max, true, (uint64_t *)dst, why, sizeof(why));
        break;
    case CONFIG_T_BOOL:
        ok = config_parse_bool(v->value, (bool *)dst, why, sizeof(why));
        break;
    case CONFIG_T_DURATION:
        ok = config_parse_duration(v->value, &u, why, sizeof(why));
        if (ok && (u < k->min || u > k->max)) {
            char lo[32], hi[32];
            config_format_duration(k->min, lo, sizeof(lo));
            config_format_duration(k->max, hi, sizeof(hi));
            snprintf(why, sizeof(why), "%s is out of range %s..%s", v->value, lo, hi);
            ok = false;
        }
        if (ok)
            *(uint64_t *)dst = u;
        break;
    case CONFIG_T_ENUM:
        e = config_parse_enum(v->value, k->names, why, sizeof(why));
        ok = e >= 0;
        if (ok)
            *(unsigned *)dst = (unsigned)e;
        break;
    case CONFIG_T_ADDR:
        if (k->use == CONFIG_ADDR_ADMIN && strcmp(v->value, "off") == 0) {
            struct net_addr *a = dst;
            memset(a, 0, sizeof(*a));
            a->text = xstrdup("off");
            break;
        }
        ok = config_parse_addr(v->value, k->use, (struct net_addr *)dst, why, sizeof(why));
        break;
    case CONFIG_T_CIDR:
        ok = net_cidr_parse(v->value, dst);
        if (!ok)
            snprintf(why, sizeof(why),
                     "'%s' is not an address or a network (10.0.0.0/8, fd00::/8, 192.0.2.7)",
                     v->value);
        break;
    case CONFIG_T_SECTION:
        break; /* not a scalar type */
    }
    if (!ok && !v->mark.line) /* a flag: its name already says which key */
        config_error_add(errs, v->mark, "%s", why);
    else if (!ok)
        config_error_add(errs, v->mark, "%s: %s", k->name, why);
    return ok;
}

/* One value (or list element) of key k into dst. */
static bool apply_one(const struct config_key *k, void *dst, const struct config_node *v,
                      struct config_errors *errs)
{
    if (k->type != CONFIG_T_SECTION)
        return apply_scalar(k, dst, v, errs);
    if (v->type == CONFIG_NODE_SCALAR && k->sub->shorthand) {
        /* "servers: [a:1, b:2]": each scalar fills the section's shorthand key. */
        struct config_node map = {.type = CONFIG_NODE_MAP, .mark = v->mark};
        struct config_node key = {.type = CONFIG_NODE_SCALAR, .mark = v->mark};
        struct config_node *items[2] = {&key, (struct config_node *)v};
        key.value = (char *)k->sub->shorthand;
        map.items = items;
        map.n = 2;
        return apply_map(k->sub, dst, &map, errs);
    }
    return apply_map(k->sub, dst, v, errs);
}

static bool apply_list(const struct config_key *k, void *obj, const struct config_node *v,
                       struct config_errors *errs)
{
    size_t size = elem_size(k), n;
    const struct config_node *const *items;
    char *arr;
    bool ok = true;

    if (v->type == CONFIG_NODE_SEQ) {
        items = (const struct config_node *const *)v->items;
        n = v->n;
    } else if (v->type == CONFIG_NODE_SCALAR) {
        items = &v; /* a single value where a list is expected is a list of one */
        n = 1;
    } else {
        config_error_add(errs, v->mark, "'%s' must be a list", k->name);
        return false;
    }
    arr = xcalloc(n, size);
    *FIELD(obj, k->off, void *) = arr;
    for (size_t i = 0; i < n; i++) {
        ok = apply_one(k, arr + i * size, items[i], errs) && ok;
        *FIELD(obj, k->count_off, size_t) = i + 1; /* so free sees every initialised element */
    }
    return ok;
}

static bool apply_key(const struct config_key *k, void *obj, const struct config_node *v,
                      struct config_errors *errs)
{
    if (k->flags & CONFIG_F_LIST)
        return apply_list(k, obj, v, errs);
    return apply_one(k, FIELD(obj, k->off, char), v, errs);
}

static void report_unknown(const struct config_section *sec, const struct config_node *key,
                           struct config_errors *errs)
{
    const char *names[64];
    const char *close;
    size_t n = 0;
    for (size_t i = 0; i < sec->n_keys && n < 63; i++)
        names[n++] = sec->keys[i].name;
    names[n] = NULL;
    close = config_closest(key->value, names);
    if (close)
        config_error_add(errs, key->mark, "unknown key '%s' in %s (did you mean '%s'?)", key->value,
                         sec->name, close);
    else
        config_error_add(errs, key->mark, "unknown key '%s' in %s", key->value, sec->name);
}

/* Fills keys that were not given: required ones are errors, others get their default. */
static bool apply_defaults(const struct config_section *sec, void *obj, struct config_errors *errs)
{
    struct config_obj *hdr = obj;
    bool ok = true;
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct config_key *k = &sec->keys[i];
        if (hdr->keys[i].file)
            continue;
        if (k->flags & CONFIG_F_REQUIRED) {
            config_error_add(errs, hdr->mark, "%s is missing required key '%s'", sec->name,
                             k->name);
            ok = false;
        } else if (k->type == CONFIG_T_SECTION && !(k->flags & CONFIG_F_LIST)) {
            struct config_node empty = {.type = CONFIG_NODE_MAP, .mark = hdr->mark};
            ok = apply_map(k->sub, FIELD(obj, k->off, char), &empty, errs) && ok;
        } else if (k->def) {
            struct config_node dv = {.type = CONFIG_NODE_SCALAR, .plain = true, .mark = hdr->mark};
            dv.value = (char *)k->def;
            ok = apply_key(k, obj, &dv, errs) && ok;
        }
    }
    return ok;
}

static bool apply_map(const struct config_section *sec, void *obj, const struct config_node *map,
                      struct config_errors *errs)
{
    struct config_obj *hdr = obj;
    size_t before = errs->n;

    hdr->mark = map->mark;
    hdr->keys = xcalloc(sec->n_keys, sizeof(*hdr->keys));
    if (map->type != CONFIG_NODE_MAP) {
        config_error_add(errs, map->mark, "a %s must be a mapping of keys to values", sec->name);
        return false;
    }
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct config_node *key = map->items[i], *val = map->items[i + 1];
        int idx;
        if (key->type != CONFIG_NODE_SCALAR) {
            config_error_add(errs, key->mark, "keys must be plain names");
            continue;
        }
        idx = config_key_index(sec, key->value);
        if (idx < 0) {
            report_unknown(sec, key, errs);
            continue;
        }
        if (hdr->keys[idx].file) {
            config_error_add(errs, key->mark, "key '%s' is given twice (first at line %u)",
                             key->value, hdr->keys[idx].line);
            continue;
        }
        if (is_null(val))
            continue;
        hdr->keys[idx] = val->mark;
        apply_key(&sec->keys[idx], obj, val, errs);
    }
    apply_defaults(sec, obj, errs);
    /* Checked even when some value was bad, so that one run reports every error; checks that
     * derive an error from other values look at in_object first. */
    errs->in_object = errs->n - before;
    if (sec->check)
        sec->check(obj, errs);
    return errs->n == before;
}

bool config_apply(const struct config_section *sec, void *obj, const struct config_node *map,
                  struct config_errors *errs)
{
    return apply_map(sec, obj, map, errs);
}

static void free_one(const struct config_key *k, void *p)
{
    switch (k->type) {
    case CONFIG_T_STRING:
    case CONFIG_T_FILE:
        free(*(char **)p);
        break;
    case CONFIG_T_ADDR:
        config_addr_free(p);
        break;
    case CONFIG_T_SECTION:
        config_release(k->sub, p);
        break;
    default:
        break;
    }
}

void config_release(const struct config_section *sec, void *obj)
{
    struct config_obj *hdr = obj;
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct config_key *k = &sec->keys[i];
        if (k->flags & CONFIG_F_LIST) {
            char *arr = *FIELD(obj, k->off, char *);
            size_t n = *FIELD(obj, k->count_off, size_t), size = elem_size(k);
            for (size_t j = 0; arr && j < n; j++)
                free_one(k, arr + j * size);
            free(arr);
        } else {
            free_one(k, FIELD(obj, k->off, char));
        }
    }
    free(hdr->keys);
    hdr->keys = NULL;
}
