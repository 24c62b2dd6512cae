/* config/: YAML files and command-line flags in, one validated immutable snapshot out.
 *
 * Nothing here opens a socket or resolves a name. A snapshot is shared by reference: whoever
 * keeps it takes a reference, and the last config_unref frees it. */
#ifndef K3LB_CONFIG_CONFIG_H
#define K3LB_CONFIG_CONFIG_H

#include "config/config-t.h"
#include "config/keys.h"

#include <stdio.h>
#include <string.h>

/* A value set from the command line or the environment, placed at a path of the YAML tree
 * ("admin.listen", "backends.0.servers"), replacing what the file said there. */

/* Builds a snapshot from a file (path, or NULL) or else from base_yaml (text, or NULL: empty),
 * then applies the overrides in order. NULL with errors filled when anything is wrong. */
struct config *config_build(const char *path, const char *base_yaml,
                            const struct config_override *ov, size_t n_ov,
                            struct config_errors *errs);

/* What `k3lb agent` decides itself, before the config is read. */

/* The same for `k3lb agent`: the agent section is turned into the agent's frontends and
 * backends (the file must not have its own). */
struct config *config_build_agent(const char *path, const struct config_override *ov, size_t n_ov,
                                  const struct config_agent_defaults *d,
                                  struct config_errors *errs);

/* False when admin.listen is "off". */
static inline bool config_admin_on(const struct config_admin *a)
{
    return a->listen.text && strcmp(a->listen.text, "off") != 0;
}

struct config *config_ref(struct config *c);
void config_unref(struct config *c);

void config_errors_print(const struct config_errors *errs, FILE *out);
void config_errors_free(struct config_errors *errs);

/* True when old -> new changes a key that only a restart can apply; names the key in why. */
bool config_needs_restart(const struct config *old_cfg, const struct config *new_cfg, char *why,
                          size_t whylen);

#endif
