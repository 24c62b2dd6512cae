/* The configuration reference, printed from the key table itself (`k3lb keys`): the README's
 * table is this output, and a test compares them, so the docs cannot drift from the code. Also
 * finds a key by its dotted path, for flag help. */
#include "config/keys.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct config_key *config_key_at(const char *path)
{
    const struct config_section *sec = &config_root_section;
    const struct config_key *key = NULL;
    char part[64];
    while (*path) {
        size_t n = strcspn(path, ".");
        snprintf(part, sizeof(part), "%.*s", (int)n, path);
        path += n + (path[n] == '.');
        if (part[0] >= '0' && part[0] <= '9')
            continue; /* a list index */
        if (!sec)
            return NULL;
        int i = config_key_index(sec, part);
        if (i < 0)
            return NULL;
        key = &sec->keys[i];
        sec = key->type == CONFIG_T_SECTION ? key->sub : NULL;
    }
    return key;
}

static const char *type_name(const struct config_key *k)
{
    bool list = k->flags & CONFIG_F_LIST;
    switch (k->type) {
    case CONFIG_T_STRING:
        return list ? "strings" : "string";
    case CONFIG_T_UINT:
        return list ? "numbers" : "number";
    case CONFIG_T_SIZE:
        return "size";
    case CONFIG_T_BOOL:
        return "bool";
    case CONFIG_T_DURATION:
        return "duration";
    case CONFIG_T_ENUM:
        return "name";
    case CONFIG_T_ADDR:
        return list ? "addresses" : "address";
    case CONFIG_T_FILE:
        return "file";
    case CONFIG_T_CIDR:
        return list ? "networks" : "network";
    case CONFIG_T_SECTION:
        return list ? "list" : "mapping";
    }
    return "?";
}

void config_enum_list(const char *const *names, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i] && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
}

void config_roff(FILE *out, const char *text)
{
    bool line_start = true;
    for (const char *p = text; *p; p++) {
        if (line_start && (*p == '.' || *p == '\''))
            fputs("\\&", out); /* a control character at a line's start would be a request */
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
        line_start = *p == '\n';
    }
}

/* One key: a Markdown table row, or a roff tagged paragraph. */
static void print_key(FILE *out, const char *prefix, const struct config_key *k, bool roff)
{
    char path[160], values[256] = "";
    const char *def = k->def ? k->def : (k->flags & CONFIG_F_REQUIRED) ? "required" : "none";
    snprintf(path, sizeof(path), "%s%s%s", prefix, k->name,
             k->type == CONFIG_T_SECTION && (k->flags & CONFIG_F_LIST) ? "[]" : "");
    if (k->type == CONFIG_T_SECTION) {
        char sub[sizeof(path) + 1];
        snprintf(sub, sizeof(sub), "%s.", path);
        for (size_t i = 0; i < k->sub->n_keys; i++)
            print_key(out, sub, &k->sub->keys[i], roff);
        return;
    }
    if (k->type == CONFIG_T_ENUM)
        config_enum_list(k->names, values, sizeof(values));
    if (roff) {
        fputs(".TP\n.B ", out);
        config_roff(out, path);
        fprintf(out, "\n\\fI%s\\fR, default ", type_name(k));
        config_roff(out, def);
        fputs(": ", out);
        config_roff(out, k->help);
        if (values[0]) {
            fputs(" (one of: ", out);
            config_roff(out, values);
            fputs(")", out);
        }
        fprintf(out, "%s\n", (k->flags & CONFIG_F_RESTART) ? " (restart to change)" : "");
        return;
    }
    fprintf(out, "| `%s` | %s | %s%s%s | %s%s%s%s%s |\n", path, type_name(k), k->def ? "`" : "",
            def, k->def ? "`" : "", k->help, values[0] ? " (one of: " : "", values,
            values[0] ? ")" : "", (k->flags & CONFIG_F_RESTART) ? " (restart to change)" : "");
}

void config_reference_print_roff(FILE *out)
{
    fputs(".SH KEYS\n", out);
    for (size_t i = 0; i < config_root_section.n_keys; i++)
        print_key(out, "", &config_root_section.keys[i], true);
    fputs(".SH CHECK KINDS\n", out);
    for (int k = 0; k < CONFIG_CHECK_COUNT; k++) {
        const struct config_check_kind_info *c = &config_check_kinds[k];
        fputs(".TP\n.B ", out);
        config_roff(out, c->name);
        fprintf(out, "\nHTTP: %s; TLS: %s; default path: ", c->speaks_http ? "yes" : "no",
                c->uses_tls ? "yes" : "no");
        config_roff(out, c->default_path ? c->default_path : "none");
        fputs(". Passes when: ", out);
        config_roff(out, c->help);
        fputs("\n", out);
    }
}

void config_reference_print(FILE *out)
{
    fprintf(out, "| key | type | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < config_root_section.n_keys; i++)
        print_key(out, "", &config_root_section.keys[i], false);
    fprintf(out, "\n| check kind | speaks HTTP | TLS | default path | what passes |\n"
                 "|---|---|---|---|---|\n");
    for (int k = 0; k < CONFIG_CHECK_COUNT; k++) {
        const struct config_check_kind_info *c = &config_check_kinds[k];
        fprintf(out, "| `%s` | %s | %s | %s%s%s | %s |\n", c->name, c->speaks_http ? "yes" : "no",
                c->uses_tls ? "yes" : "no", c->default_path ? "`" : "",
                c->default_path ? c->default_path : "-", c->default_path ? "`" : "", c->help);
    }
}
