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

static void error_vadd(struct config_error **list, size_t *n, size_t *more, struct config_mark mark,
                       const char *label, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/* Keeps the first CONFIG_ERRORS_KEPT: a file of 100,000 bad lines costs a count, not a list. */
static void error_vadd(struct config_error **list, size_t *n, size_t *more, struct config_mark mark,
                       const char *label, const char *fmt, va_list ap)
{
    struct config_error *e;
    int used;
    if (*n >= CONFIG_ERRORS_KEPT) {
        (*more)++;
        return;
    }
    if (*n == 0)
        *list = xreallocarray(*list, CONFIG_ERRORS_KEPT, sizeof(**list));
    e = &(*list)[(*n)++];
    if (mark.line)
        used = snprintf(e->text, sizeof(e->text), "%s:%u:%u: %s", mark.file, mark.line, mark.col,
                        label);
    else
        used =
            snprintf(e->text, sizeof(e->text), "%s: %s", mark.file ? mark.file : "config", label);
    vsnprintf(e->text + used, sizeof(e->text) - (size_t)used, fmt, ap);
}

void config_error_add(struct config_errors *errs, struct config_mark mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vadd(&errs->list, &errs->n, &errs->more, mark, "", fmt, ap);
    va_end(ap);
}

void config_warning_add(struct config_errors *errs, struct config_mark mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vadd(&errs->warnings, &errs->n_warnings, &errs->more_warnings, mark, "warning: ", fmt,
               ap);
    va_end(ap);
}

void config_secret_absent(struct config_errors *errs, struct config_mark mark, const char *fmt, ...)
{
    va_list ap;
    char text[400];
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (errs->lenient_secrets)
        config_warning_add(errs, mark, "%s (k3lb serve and agent refuse this where they run)",
                           text);
    else
        config_error_add(errs, mark, "%s", text);
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
    if (parent->n == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->items = xreallocarray(parent->items, parent->cap, sizeof(*parent->items));
    }
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

/* Bounds on what one file may become, enforced while libyaml's events arrive, so that a
 * hostile file costs little time and memory: nesting (libyaml's own document loader takes
 * seconds on 40,000 levels before any check could run), values, and bytes after aliases (an
 * alias is a full copy here, so a large scalar aliased many times would otherwise expand to
 * gigabytes). A real config is far inside all three. */
#define NODE_DEPTH_MAX 32
#define NODE_COUNT_MAX 200000
#define NODE_BYTES_MAX (16 * 1024 * 1024)

/* An anchored node, kept for the aliases that name it, with what one copy of it costs. */
struct anchor {
    char *name;
    struct config_node *node; /* the tree's own node (not a copy) */
    size_t nodes, bytes;
};

struct builder {
    const char *file;
    struct config_errors *errs;
    struct config_node *stack[NODE_DEPTH_MAX + 2]; /* open collections, outermost first */
    size_t nodes_at[NODE_DEPTH_MAX + 2];           /* node count when each was opened */
    size_t bytes_at[NODE_DEPTH_MAX + 2];
    char *anchor_of[NODE_DEPTH_MAX + 2]; /* its anchor name, registered when it closes */
    unsigned depth;
    struct config_node *root;
    struct anchor *anchors;
    size_t n_anchors;
    size_t nodes, bytes; /* spent so far, aliases counted as copies */
    bool failed;
};

static bool spend(struct builder *b, struct config_mark mark, size_t nodes, size_t bytes)
{
    b->nodes += nodes;
    b->bytes += bytes;
    if (b->nodes > NODE_COUNT_MAX) {
        config_error_add(b->errs, mark, "document too large (more than %d values after aliases)",
                         NODE_COUNT_MAX);
        return false;
    }
    if (b->bytes > NODE_BYTES_MAX) {
        config_error_add(b->errs, mark, "document too large (more than %d MiB after aliases)",
                         NODE_BYTES_MAX >> 20);
        return false;
    }
    return true;
}

static void remember_anchor(struct builder *b, char *name, struct config_node *node, size_t nodes,
                            size_t bytes)
{
    if (!name)
        return;
    b->anchors = xreallocarray(b->anchors, b->n_anchors + 1, sizeof(*b->anchors));
    b->anchors[b->n_anchors++] = (struct anchor){name, node, nodes, bytes};
}

/* Puts a finished node into the open collection, or makes it the root. */
static void attach(struct builder *b, struct config_node *node)
{
    if (b->depth)
        config_node_append(b->stack[b->depth - 1], node);
    else if (!b->root)
        b->root = node;
    else
        config_node_free(node);
}

static bool on_scalar(struct builder *b, const yaml_event_t *ev, struct config_mark mark)
{
    size_t len = ev->data.scalar.length;
    struct config_node *node;
    if (memchr(ev->data.scalar.value, '\0', len)) {
        config_error_add(b->errs, mark, "value contains a NUL character");
        return false;
    }
    if (!spend(b, mark, 1, len))
        return false;
    node = config_node_new(CONFIG_NODE_SCALAR, mark);
    node->value = xstrndup((const char *)ev->data.scalar.value, len);
    node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (ev->data.scalar.anchor)
        remember_anchor(b, xstrdup((const char *)ev->data.scalar.anchor), node, 1, len);
    attach(b, node);
    return true;
}

static bool on_alias(struct builder *b, const yaml_event_t *ev, struct config_mark mark)
{
    const char *name = (const char *)ev->data.alias.anchor;
    for (size_t i = b->n_anchors; i-- > 0;)
        if (strcmp(b->anchors[i].name, name) == 0) {
            if (!spend(b, mark, b->anchors[i].nodes, b->anchors[i].bytes))
                return false;
            attach(b, config_node_copy(b->anchors[i].node));
            return true;
        }
    config_error_add(b->errs, mark, "alias *%s names no anchor defined before it", name);
    return false;
}

static bool on_open(struct builder *b, enum config_node_type type, const yaml_char_t *anchor,
                    struct config_mark mark)
{
    if (b->depth >= NODE_DEPTH_MAX) {
        config_error_add(b->errs, mark, "nesting too deep (more than %d levels)", NODE_DEPTH_MAX);
        return false;
    }
    if (!spend(b, mark, 1, 0))
        return false;
    b->nodes_at[b->depth] = b->nodes;
    b->bytes_at[b->depth] = b->bytes;
    b->anchor_of[b->depth] = anchor ? xstrdup((const char *)anchor) : NULL;
    b->stack[b->depth++] = config_node_new(type, mark);
    return true;
}

static void on_close(struct builder *b)
{
    struct config_node *node = b->stack[--b->depth];
    /* a copy costs what the collection cost: itself and everything opened inside it */
    remember_anchor(b, b->anchor_of[b->depth], node, b->nodes - b->nodes_at[b->depth] + 1,
                    b->bytes - b->bytes_at[b->depth]);
    attach(b, node);
}

/* One event of the first document. false to stop (an error was added). */
static bool on_event(struct builder *b, const yaml_event_t *ev)
{
    struct config_mark mark = mark_of(&ev->start_mark, b->file);
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev, mark);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev, mark);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(b, CONFIG_NODE_SEQ, ev->data.sequence_start.anchor, mark);
    case YAML_MAPPING_START_EVENT:
        return on_open(b, CONFIG_NODE_MAP, ev->data.mapping_start.anchor, mark);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        on_close(b);
        return true;
    default:
        return true;
    }
}

static void builder_free(struct builder *b)
{
    while (b->depth) {
        b->depth--;
        config_node_free(b->stack[b->depth]);
        free(b->anchor_of[b->depth]);
    }
    for (size_t i = 0; i < b->n_anchors; i++)
        free(b->anchors[i].name);
    free(b->anchors);
}

struct config_node *config_node_parse(const char *text, size_t len, const char *file,
                                      struct config_errors *errs)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct builder b = {.file = config_intern(file), .errs = errs};
    bool more = true;

    if (!yaml_parser_initialize(&parser))
        xalloc_check(NULL); /* libyaml's only failure here is memory */
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (more && !b.failed) {
        if (!yaml_parser_parse(&parser, &ev)) {
            struct config_mark m = mark_of(&parser.problem_mark, b.file);
            size_t at = parser.problem_mark.index;
            if (at < len && text[at] == '\t')
                config_error_add(errs, m, "a tab: YAML indents with spaces only");
            else
                config_error_add(errs, m, "YAML syntax: %s%s%s",
                                 parser.problem ? parser.problem : "error",
                                 parser.context ? " " : "", parser.context ? parser.context : "");
            b.failed = true;
            break;
        }
        /* only the first document counts, as before */
        more = ev.type != YAML_STREAM_END_EVENT && ev.type != YAML_DOCUMENT_END_EVENT;
        b.failed = !on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    builder_free(&b);
    if (b.failed) {
        config_node_free(b.root);
        return NULL;
    }
    return b.root ? b.root : config_node_new(CONFIG_NODE_MAP, (struct config_mark){b.file, 1, 1});
}
