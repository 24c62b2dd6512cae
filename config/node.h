/* A YAML-shaped tree with a position on every node: the common input of the key table.
 *
 * Both sources of configuration produce it: YAML files (through libyaml, positions from its
 * marks) and command-line flags or environment variables (position = the flag's name). One
 * applier then validates either the same way. Internal to config/. */
#ifndef K3LB_CONFIG_NODE_H
#define K3LB_CONFIG_NODE_H

#include "config/config-t.h"

#include <stdbool.h>
#include <stddef.h>

enum config_node_type {
    CONFIG_NODE_SCALAR = 0,
    CONFIG_NODE_MAP,
    CONFIG_NODE_SEQ,
};

struct config_node {
    enum config_node_type type;
    struct config_mark mark;    /* where the node starts */
    char *value;                /* SCALAR: the text */
    bool plain;                 /* SCALAR: unquoted (so "~"/"null" mean null) */
    struct config_node **items; /* MAP: key, value, key, value...; SEQ: elements */
    size_t n;                   /* number of entries in items */
    size_t cap;                 /* room in items: it doubles, so 100,000 servers are not
                                   100,000 copies of a growing array */
};

/* Parses YAML text into a tree. "file" names the source in marks and is copied into pool.
 * Returns NULL and adds one error on a syntax error; an empty document gives an empty map. */
struct config_node *config_node_parse(const char *text, size_t len, const char *file,
                                      struct config_errors *errs);

struct config_node *config_node_new(enum config_node_type type, struct config_mark mark);
struct config_node *config_node_scalar(const char *value, struct config_mark mark);
void config_node_append(struct config_node *parent, struct config_node *child);
/* MAP: appends key and value. */
void config_node_put(struct config_node *map, const char *key, struct config_node *value);
/* MAP: the value under key, or NULL. */
struct config_node *config_node_get(const struct config_node *map, const char *key);
/* MAP: removes key and returns its value (the caller owns it), or NULL. */
struct config_node *config_node_take(struct config_node *map, const char *key);
/* MAP: the key node of key, or NULL (for its position). */
struct config_node *config_node_key(const struct config_node *map, const char *key);
struct config_node *config_node_copy(const struct config_node *node);
void config_node_free(struct config_node *node);

/* Appends "file:line:col: message" (or "flag: message" for line 0) to errs. */
void config_error_add(struct config_errors *errs, struct config_mark mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same as "file:line:col: warning: message": said, but the config still loads. */
void config_warning_add(struct config_errors *errs, struct config_mark mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A secret (a file or an environment variable) that cannot be read: an error, or a warning for
 * `k3lb check` (errs->lenient_secrets), which operators run where the secrets are not. */
void config_secret_absent(struct config_errors *errs, struct config_mark mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps file names alive for as long as the marks that point at them. */
const char *config_intern(const char *s);

#endif
