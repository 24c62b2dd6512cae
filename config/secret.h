/* Secrets (tokens, passwords) named in the config: read from a file or an environment
 * variable when they are needed, never stored in a snapshot, never logged. */
#ifndef K3LB_CONFIG_SECRET_H
#define K3LB_CONFIG_SECRET_H

#include <stddef.h>

/* Reads the secret from env (when set) or else file, a trailing line end and blanks trimmed.
 * A secret with a NUL, a line break or another control character inside, or longer than 4 KiB,
 * is refused whole (a prefix is never used). Returns a malloc'd string for config_secret_free,
 * or NULL with a reason in why that names the source, never the content. what names the secret
 * in the reason ("bearer token"). */
char *config_secret_read(const char *file, const char *env, const char *what, char *why,
                         size_t whylen);
/* Wipes and frees. */
void config_secret_free(char *secret);

#endif
