/* The flag parser: argv first, then K3LB_* variables for what argv did not set. */
#include "config/flags.h"

#include "config/keys.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void add_value(struct config_flag_value *fv, const char *v)
{
    fv->v = xreallocarray(fv->v, fv->n + 1, sizeof(*fv->v));
    fv->v[fv->n++] = v;
}

static const struct config_flag *find_long(const struct config_flag *defs, size_t n,
                                           const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(defs[i].name) == len && strncmp(defs[i].name, name, len) == 0)
            return &defs[i];
    return NULL;
}

static const struct config_flag *find_short(const struct config_flag *defs, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (defs[i].short_name && defs[i].short_name == c)
            return &defs[i];
    return NULL;
}

/* K3LB_NAME, or the flag's own variable where one name would mean two things; "" for a flag
 * the environment does not set: a switch (help, force, json: what one command line means, not
 * how a host is set up) or one marked CONFIG_FLAG_NO_ENV. */
static void env_name(const struct config_flag *d, char *out, size_t len)
{
    const char *flag = d->name;
    size_t n;
    if (d->kind == CONFIG_FLAG_SWITCH || (d->env && strcmp(d->env, CONFIG_FLAG_NO_ENV) == 0)) {
        out[0] = '\0';
        return;
    }
    if (d->env) {
        snprintf(out, len, "%s", d->env);
        return;
    }
    n = (size_t)snprintf(out, len, "K3LB_");
    for (; *flag && n + 1 < len; flag++)
        out[n++] = *flag == '-' ? '_' : (char)toupper((unsigned char)*flag);
    out[n] = '\0';
}

/* Takes a value from the environment for a flag that argv left unset. */
static void from_env(const struct config_flag *d, struct config_flag_value *fv)
{
    char name[64];
    const char *val;

    env_name(d, name, sizeof(name));
    if (!name[0])
        return;
    val = getenv(name);
    if (!val && d->env_alias) {
        snprintf(name, sizeof(name), "%s", d->env_alias);
        val = getenv(name);
    }
    if (!val)
        return;
    snprintf(fv->origin, sizeof(fv->origin), "%s", name);
    fv->env_copy = xstrdup(val);
    if (d->kind == CONFIG_FLAG_VALUE) {
        add_value(fv, fv->env_copy);
        return;
    }
    for (char *save = NULL, *tok = strtok_r(fv->env_copy, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save))
        add_value(fv, tok);
}

bool config_flags_parse(const struct config_flag *defs, size_t n_defs, int argc, char **argv,
                        struct config_flag_value *vals, const char **pos, size_t *n_pos,
                        size_t max_pos, char *err, size_t errlen)
{
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *inline_val = NULL;
        const struct config_flag *d;
        if (strcmp(a, "--") == 0) {
            while (++i < argc && *n_pos < max_pos)
                pos[(*n_pos)++] = argv[i];
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (*n_pos >= max_pos) {
                snprintf(err, errlen, "unexpected argument '%s'", a);
                return false;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            d = find_long(defs, n_defs, a + 2, len);
            inline_val = eq ? eq + 1 : NULL;
        } else {
            d = a[2] == '\0' ? find_short(defs, n_defs, a[1]) : NULL;
        }
        if (!d) {
            snprintf(err, errlen, "unknown flag '%s'", a);
            return false;
        }
        struct config_flag_value *fv = &vals[d - defs];
        snprintf(fv->origin, sizeof(fv->origin), "--%s", d->name);
        if (d->kind == CONFIG_FLAG_SWITCH) {
            if (inline_val) {
                snprintf(err, errlen, "flag --%s takes no value", d->name);
                return false;
            }
            add_value(fv, "true");
            continue;
        }
        if (!inline_val) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "flag --%s needs a value (%s)", d->name, d->arg);
                return false;
            }
            inline_val = argv[++i];
        }
        if (d->kind == CONFIG_FLAG_VALUE)
            fv->n = 0; /* the last one wins */
        add_value(fv, inline_val);
    }
    for (size_t i = 0; i < n_defs; i++)
        if (vals[i].n == 0)
            from_env(&defs[i], &vals[i]);
    return true;
}

size_t config_flags_overrides(const struct config_flag *defs, size_t n_defs,
                              const struct config_flag_value *vals, struct config_override *out)
{
    size_t n = 0;
    for (size_t i = 0; i < n_defs; i++) {
        if (!defs[i].path || vals[i].n == 0)
            continue;
        out[n++] = (struct config_override){
            .path = defs[i].path,
            .values = vals[i].v,
            .n_values = vals[i].n,
            .list = defs[i].kind == CONFIG_FLAG_LIST,
            .origin = vals[i].origin,
        };
    }
    return n;
}

const char *config_flag_get(const struct config_flag *defs, size_t n_defs,
                            const struct config_flag_value *vals, const char *name)
{
    for (size_t i = 0; i < n_defs; i++)
        if (strcmp(defs[i].name, name) == 0)
            return vals[i].n ? vals[i].v[vals[i].n - 1] : NULL;
    return NULL;
}

/* What the help and the manual page say of one flag: its text (its own, or its key's), the
 * names its key takes, its environment variable. */
struct flag_doc {
    const char *help;
    char values[200]; /* "a, b, c", or empty */
    char env[64];
};

static void flag_doc(const struct config_flag *d, struct flag_doc *out)
{
    const struct config_key *k = d->path ? config_key_at(d->path) : NULL;
    out->help = d->help ? d->help : k ? k->help : "";
    out->values[0] = '\0';
    if (k && k->type == CONFIG_T_ENUM)
        config_enum_list(k->names, out->values, sizeof(out->values));
    env_name(d, out->env, sizeof(out->env));
}

void config_flags_usage(const struct config_flag *defs, size_t n_defs, FILE *out)
{
    for (size_t i = 0; i < n_defs; i++) {
        const struct config_flag *d = &defs[i];
        struct flag_doc doc;
        char left[64];
        flag_doc(d, &doc);
        if (d->short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", d->short_name, d->name, d->arg ? " " : "",
                     d->arg ? d->arg : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", d->name, d->arg ? " " : "",
                     d->arg ? d->arg : "");
        fprintf(out, "  %-30s %s%s%s%s%s%s%s%s%s%s\n", left, doc.help,
                doc.values[0] ? " (one of: " : "", doc.values, doc.values[0] ? ")" : "",
                d->kind == CONFIG_FLAG_LIST ? " (repeatable)" : "", doc.env[0] ? " [" : "", doc.env,
                d->env_alias ? ", " : "", d->env_alias ? d->env_alias : "", doc.env[0] ? "]" : "");
    }
}

void config_flags_usage_roff(const struct config_flag *defs, size_t n_defs, FILE *out)
{
    for (size_t i = 0; i < n_defs; i++) {
        const struct config_flag *d = &defs[i];
        struct flag_doc doc;
        flag_doc(d, &doc);
        fputs(".TP\n", out);
        if (d->short_name)
            fprintf(out, "\\fB\\-%c\\fR, ", d->short_name);
        fputs("\\fB\\-\\-", out);
        config_roff(out, d->name);
        fputs("\\fR", out);
        if (d->arg) {
            fputs(" \\fI", out);
            config_roff(out, d->arg);
            fputs("\\fR", out);
        }
        fputs("\n", out);
        config_roff(out, doc.help);
        if (doc.values[0]) {
            fputs(" (one of: ", out);
            config_roff(out, doc.values);
            fputs(")", out);
        }
        fprintf(out, "%s", d->kind == CONFIG_FLAG_LIST ? " (repeatable)" : "");
        if (!doc.env[0]) {
            fputs(".\n", out);
            continue;
        }
        fputs(". Environment: ", out);
        config_roff(out, doc.env);
        if (d->env_alias) {
            fputs(", ", out);
            config_roff(out, d->env_alias);
        }
        fputs(".\n", out);
    }
}

void config_flags_free(struct config_flag_value *vals, size_t n_defs)
{
    for (size_t i = 0; i < n_defs; i++) {
        free(vals[i].v);
        free(vals[i].env_copy);
        vals[i].v = NULL;
        vals[i].env_copy = NULL;
        vals[i].n = 0;
    }
}
