/* libFuzzer target: command-line flags and their K3LB_* environment twins (config/flags.c),
 * then the config they build. The input is split at NUL bytes: the first piece is the value of
 * K3LB_SERVER (a list variable, comma-separated), the rest are argv. Any arguments must parse
 * or be refused with a reason, never crash; what parses must build a config or give errors
 * that say why (flags meet the same validation as the YAML keys they name). */
#include "config/config.h"
#include "config/flags.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The shapes of k3lb serve's table: a value with a short name, lists, switches, flags with
 * YAML paths of several types, one with an environment alias. */
static const struct config_flag defs[] = {
    {"config", 'c', CONFIG_FLAG_VALUE, NULL, NULL, "FILE", "file"},
    {"listen", 0, CONFIG_FLAG_LIST, "frontends.0.listen", NULL, "ADDR", "listen"},
    {"server", 0, CONFIG_FLAG_LIST, "backends.0.servers", "K3S_URL", "ADDR", "server"},
    {"balance", 0, CONFIG_FLAG_VALUE, "backends.0.balance", NULL, "ALG", "balance"},
    {"connect-timeout", 0, CONFIG_FLAG_VALUE, "backends.0.connect_timeout", NULL, "DUR", "t"},
    {"check-interval", 0, CONFIG_FLAG_VALUE, "backends.0.health.interval", NULL, "DUR", "i"},
    {"workers", 'w', CONFIG_FLAG_VALUE, "workers", NULL, "N", "workers"},
    {"json", 0, CONFIG_FLAG_SWITCH, NULL, NULL, NULL, "json"},
    {"help", 'h', CONFIG_FLAG_SWITCH, NULL, NULL, NULL, "help"},
};
#define N_DEFS   (sizeof(defs) / sizeof(defs[0]))
#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *argv[MAX_ARGS], err[256] = "";
    struct config_flag_value vals[N_DEFS];
    struct config_override ov[N_DEFS + 1];
    struct config_errors errs = {0};
    const char *pos[4];
    size_t n_pos = 0, n_ov, at;
    int argc = 0;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    at = strlen(buf) + 1;
    setenv("K3LB_SERVER", buf, 1);
    while (at <= size && argc < MAX_ARGS) {
        argv[argc++] = buf + at;
        at += strlen(buf + at) + 1;
    }
    memset(vals, 0, sizeof(vals));
    if (!config_flags_parse(defs, N_DEFS, argc, argv, vals, pos, &n_pos, 4, err, sizeof(err))) {
        if (!err[0])
            abort(); /* a refusal says why */
    } else {
        struct config *c;
        if (n_pos > 4)
            abort();
        n_ov = config_flags_overrides(defs, N_DEFS, vals, ov);
        if (n_ov > N_DEFS)
            abort();
        (void)config_flag_get(defs, N_DEFS, vals, "config");
        c = config_build(NULL, "", ov, n_ov, &errs);
        if (c)
            config_unref(c);
        else if (errs.n == 0)
            abort();
        config_errors_free(&errs);
    }
    config_flags_free(vals, N_DEFS);
    unsetenv("K3LB_SERVER");
    free(buf);
    return 0;
}
