/* YAML text to struct config_node, keeping libyaml's positions; plus the small tree builder
 * that flags use and the error collector shared by all of config/. */
#include "config/node.h"
#include "common/xalloc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* File names are few (the config path, flag names) and are referenced from every mark of every
 * snapshot ever loaded, so they are interned once and kept. */
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static char **intern_pool;
static size_t intern_n;

const char *config_intern(const char *s)
{
    const char *found = NULL;
    pthread_mutex_lock(&intern_lock);
    for (size_t i = 0; i < intern_n && !found; i++)
        if (strcmp(intern_pool[i], s) == 0)
            found = intern_pool[i];
    if (!found) {
        char **grown = xreallocarray(intern_pool, intern_n + 1, sizeof(*grown));
        intern_pool = grown;
        intern_pool[intern_n] = xstrdup(s);
        found = intern_pool[intern_n++];
    }
    pthread_mutex_unlock(&intern_lock);
    return found;
}

void config_error_add(struct config_errors *errs, struct config_mark mark, const char *fmt, ...)
{
    struct config_error *e;
    va_list ap;
    int n;

    errs->list = xreallocarray(errs->list, errs->n + 1, sizeof(*errs->list));
    e = &errs->list[errs->n++];
    if (mark.line)
        n = snprintf(e->text, sizeof(e->text), "%s:%u:%u: ", mark.file, mark.line, mark.col);
    else
        n = snprintf(e->text, sizeof(e->text), "%s: ", mark.file ? mark.file : "config");
    va_start(ap, fmt);
    vsnprintf(e->text + n, sizeof(e->text) - (size_t)n, fmt, ap);
    va_end(ap);
}

struct config_node *config_node_new(enum config_node_type type, struct config_mark mark)
{
    struct config_node *node = xcalloc(1, sizeof(*node));
    node->type = type;
    node->mark = mark;
    return node;
}

struct config_node *config_node_scalar(const char *value, struct config_mark mark)
{
    struct config_node *node = config_node_new(CONFIG_NODE_SCALAR, mark);
    node->value = xstrdup(value);
    node->plain = false;
    return node;
}

void config_node_append(struct config_node *parent, struct config_node *child)
{
    parent->items = xreallocarray(parent->items, parent->n + 1, sizeof(*parent->items));
    parent->items[parent->n++] = child;
}

void config_node_put(struct config_node *map, const char *key, struct config_node *value)
{
    config_node_append(map, config_node_scalar(key, value->mark));
    config_node_append(map, value);
}

struct config_node *config_node_get(const struct config_node *map, const char *key)
{
    if (!map || map->type != CONFIG_NODE_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->items[i]->type == CONFIG_NODE_SCALAR && strcmp(map->items[i]->value, key) == 0)
            return map->items[i + 1];
    return NULL;
}

struct config_node *config_node_key(const struct config_node *map, const char *key)
{
    if (!map || map->type != CONFIG_NODE_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->items[i]->type == CONFIG_NODE_SCALAR && strcmp(map->items[i]->value, key) == 0)
            return map->items[i];
    return NULL;
}

struct config_node *config_node_take(struct config_node *map, const char *key)
{
    struct config_node *k = config_node_key(map, key), *v;
    size_t i;
    if (!k)
        return NULL;
    for (i = 0; map->items[i] != k; i += 2)
        ;
    v = map->items[i + 1];
    config_node_free(k);
    memmove(&map->items[i], &map->items[i + 2], (map->n - i - 2) * sizeof(*map->items));
    map->n -= 2;
    return v;
}

struct config_node *config_node_copy(const struct config_node *node)
{
    struct config_node *c = config_node_new(node->type, node->mark);
    c->plain = node->plain;
    if (node->value)
        c->value = xstrdup(node->value);
    for (size_t i = 0; i < node->n; i++)
        config_node_append(c, config_node_copy(node->items[i]));
    return c;
}

void config_node_free(struct config_node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->n; i++)
        config_node_free(node->items[i]);
    free(node->items);
    free(node->value);
    free(node);
}

static struct config_mark mark_of(const yaml_mark_t *m, const char *file)
{
    return (struct config_mark){file, (unsigned)m->line + 1, (unsigned)m->column + 1};
}

/* Bounds on what one file may expand to: libyaml keeps an alias as a second reference to the
 * same node, so a file of nested aliases would otherwise expand exponentially. */
#define NODE_DEPTH_MAX 32
#define NODE_COUNT_MAX 200000

struct convert_ctx {
    yaml_document_t *doc;
    const char *file;
    size_t budget; /* nodes still allowed */
    struct config_errors *errs;
};

static struct config_node *convert(struct convert_ctx *cx, yaml_node_t *yn, unsigned depth)
{
    struct config_mark mark = mark_of(&yn->start_mark, cx->file);
    struct config_errors *errs = cx->errs;
    yaml_document_t *doc = cx->doc;
    struct config_node *node;

    if (depth > NODE_DEPTH_MAX) {
        config_error_add(errs, mark, "nesting too deep (more than %d levels)", NODE_DEPTH_MAX);
        return NULL;
    }
    if (cx->budget-- == 0) {
        config_error_add(errs, mark, "document too large (more than %d values after aliases)",
                         NODE_COUNT_MAX);
        return NULL;
    }
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        node = config_node_new(CONFIG_NODE_SCALAR, mark);
        node->value = xcalloc(1, yn->data.scalar.length + 1);
        memcpy(node->value, yn->data.scalar.value, yn->data.scalar.length);
        node->plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (strlen(node->value) != yn->data.scalar.length) {
            config_error_add(errs, mark, "value contains a NUL character");
            config_node_free(node);
            return NULL;
        }
        return node;
    case YAML_SEQUENCE_NODE:
        node = config_node_new(CONFIG_NODE_SEQ, mark);
        for (yaml_node_item_t *it = yn->data.sequence.items.start; it < yn->data.sequence.items.top;
             it++) {
            struct config_node *child = convert(cx, yaml_document_get_node(doc, *it), depth + 1);
            if (!child) {
                config_node_free(node);
                return NULL;
            }
            config_node_append(node, child);
        }
        return node;
    case YAML_MAPPING_NODE:
        node = config_node_new(CONFIG_NODE_MAP, mark);
        for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top;
             p++) {
            struct config_node *k = convert(cx, yaml_document_get_node(doc, p->key), depth + 1);
            struct config_node *v =
                k ? convert(cx, yaml_document_get_node(doc, p->value), depth + 1) : NULL;
            if (!k || !v) {
                config_node_free(k);
                config_node_free(node);
                return NULL;
            }
            config_node_append(node, k);
            config_node_append(node, v);
        }
        return node;
    default:
        config_error_add(errs, mark, "unsupported YAML node");
        return NULL;
    }
}

struct config_node *config_node_parse(const char *text, size_t len, const char *file,
                                      struct config_errors *errs)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct config_node *root = NULL;
    yaml_node_t *top;

    file = config_intern(file);
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        struct config_mark m = mark_of(&parser.problem_mark, file);
        config_error_add(errs, m, "YAML syntax: %s%s%s", parser.problem ? parser.problem : "error",
                         parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return NULL;
    }
    top = yaml_document_get_root_node(&doc);
    if (!top)
        root = config_node_new(CONFIG_NODE_MAP, (struct config_mark){file, 1, 1});
    else {
        struct convert_ctx cx = {&doc, file, NODE_COUNT_MAX, errs};
        root = convert(&cx, top, 0);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return root;
}
