/* The configuration keyword table: every key's name, type, default, bounds and reloadability in
 * one place. The applier (apply.c) walks it for YAML and flags alike. Outside config/ it is read,
 * never written: the enums' name tables (check kinds, programs), the reference and man page
 * printers, and a key's position for an advice message (health/advice.c). The importer
 * (import/) writes key names as text and is tested against the loader instead. */
#ifndef K3LB_CONFIG_KEYS_H
#define K3LB_CONFIG_KEYS_H

#include "config/config-t.h"
#include "config/value.h"

#include <stdio.h>

enum config_type {
    CONFIG_T_STRING = 0, /* char * */
    CONFIG_T_UINT,       /* unsigned */
    CONFIG_T_SIZE,       /* uint64_t, bytes; k/m/g suffixes */
    CONFIG_T_BOOL,       /* bool */
    CONFIG_T_DURATION,   /* uint64_t milliseconds */
    CONFIG_T_ENUM,       /* unsigned index into names */
    CONFIG_T_ADDR,       /* struct net_addr */
    CONFIG_T_SECTION,    /* nested struct described by sub */
    CONFIG_T_FILE,       /* char *, a path that must be readable */
    CONFIG_T_CIDR,       /* struct net_cidr: an address or a network */
};

enum config_key_flag {
    CONFIG_F_REQUIRED = 1 << 0, /* no default: must be given */
    CONFIG_F_RESTART = 1 << 1,  /* a reload cannot change it; needs a restart */
    CONFIG_F_LIST = 1 << 2,     /* a list of the type: pointer at off, size_t count at count_off */
};

struct config_section;

struct config_key {
    const char *name;                 /* as written in YAML */
    enum config_type type;            /* of the value, or of each element of a list */
    unsigned flags;                   /* enum config_key_flag */
    size_t off;                       /* field offset in the section struct */
    size_t count_off;                 /* CONFIG_F_LIST: offset of the size_t count */
    const char *def;                  /* default as YAML text; NULL: none (or required) */
    uint64_t min, max;                /* bounds of UINT, SIZE (bytes), DURATION (ms) */
    const char *const *names;         /* ENUM: the values, index = stored number */
    enum config_addr_use use;         /* ADDR: which forms are allowed */
    const struct config_section *sub; /* SECTION: its table */
    const char *help;                 /* one line for documentation and errors */
};

struct config_section {
    const char *name;              /* how messages call one of these: "backend", "server" */
    size_t size;                   /* sizeof the struct */
    const struct config_key *keys; /* the keys, in documentation order */
    size_t n_keys;
    const char *shorthand; /* key that a bare scalar list element fills, e.g. servers: [a:1] */
    /* Checks that involve several keys of one object; adds errors, returns nothing. */
    void (*check)(void *obj, struct config_errors *errs);
};

extern const struct config_section config_root_section;
extern const struct config_section config_frontend_section;
extern const struct config_section config_route_section;
extern const struct config_section config_backend_section;
extern const struct config_section config_server_section;
extern const struct config_section config_health_section;
extern const struct config_section config_admin_section;
extern const struct config_section config_log_section;
extern const struct config_section config_tls_section;
extern const struct config_section config_auth_section;
extern const struct config_section config_agent_section;

/* For the table files (keys.c, keys_health.c): a row's name and field, a list's count field,
 * and bounds in milliseconds. */
#define KEY(sname, field, ...) .name = sname, .off = offsetof(KEY_STRUCT, field), __VA_ARGS__
#define LIST(field)            .count_off = offsetof(KEY_STRUCT, field)
#define MS(x)                  ((uint64_t)(x))
#define SEC(x)                 ((uint64_t)(x)*1000)
#define HOUR                   SEC(3600)

/* The key was written in obj (not a default). */
bool config_key_given(const struct config_obj *obj, const struct config_section *sec,
                      const char *key);
/* An environment variable named in the config must exist when it loads. */
void config_check_env(const struct config_obj *obj, const struct config_section *sec,
                      const char *key, const char *name, struct config_errors *errs);

/* The position of key's value in obj if it was given, else of obj itself. */
struct config_mark config_mark_of(const struct config_obj *obj, const struct config_section *sec,
                                  const char *key);

/* Index of the key in its section, or -1. Used to look up marks for messages. */
int config_key_index(const struct config_section *sec, const char *name);

/* The key at a dotted path ("backends.0.health.kind"; list indexes skipped), or NULL. */
const struct config_key *config_key_at(const char *path);
/* Prints every key (path, type, default, meaning) and the check kinds as Markdown tables. */
void config_reference_print(FILE *out);
/* The same as the KEYS and CHECK KINDS sections of the k3lb.yaml(5) manual page (roff). */
void config_reference_print_roff(FILE *out);
/* Writes text for roff: backslashes, hyphens and a leading dot or quote escaped. */
void config_roff(FILE *out, const char *text);
/* "a, b, c" from a NULL-terminated name list. */
void config_enum_list(const char *const *names, char *buf, size_t len);

/* first[i]: the index of the first key before i equal to keys[i], or SIZE_MAX (n log n). */
void config_first_equal(const char *const *keys, size_t n, bool nocase, size_t *first);

/* Names of the enums, indexed by value, NULL-terminated: the config's words for them. */
extern const char *const config_balance_names[];
extern const char *const config_check_kind_names[];
extern const struct config_check_kind_info config_check_kinds[CONFIG_CHECK_COUNT];
extern const char *const config_on_down_names[];
extern const char *const config_all_down_names[];
extern const char *const config_send_proxy_names[];
extern const char *const config_server_send_proxy_names[];
extern const char *const config_sslmode_names[];
extern const char *const config_db_role_names[];
extern const char *const config_role_names[];
extern const char *const config_program_names[];

#endif
