/* libFuzzer target: the scalar parsers every config key, flag and environment variable goes
 * through (durations, addresses, numbers with sizes, booleans, the agent's server URL) and the
 * K3s token. Any text must be accepted or refused with a reason, never crash; what is accepted
 * must survive its own round trip (a duration formatted and parsed again is the same), and a
 * refused token's reason must never quote the token. */
#include "config/value.h"
#include "tls/token.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void durations(const char *s)
{
    char why[200], text[64];
    uint64_t ms, again;
    if (!config_parse_duration(s, &ms, why, sizeof(why)))
        return;
    config_format_duration(ms, text, sizeof(text));
    if (!config_parse_duration(text, &again, why, sizeof(why)) || again != ms)
        abort(); /* a duration k3lb prints must read back as itself */
}

static void addresses(const char *s)
{
    char why[200], moved[300];
    for (int use = CONFIG_ADDR_LISTEN; use <= CONFIG_ADDR_ADMIN; use++) {
        struct net_addr a = {0}, copy = {0};
        if (!config_parse_addr(s, (enum config_addr_use)use, &a, why, sizeof(why)))
            continue;
        config_addr_copy(&copy, &a);
        if (strcmp(copy.text, a.text) != 0)
            abort();
        if (a.kind == NET_ADDR_INET && a.host)
            config_addr_with_port(a.text, 1, moved, sizeof(moved));
        (void)config_addr_overlap(&a, &copy);
        config_addr_free(&copy);
        config_addr_free(&a);
    }
}

static void token(const char *s)
{
    struct tls_k3s_token t = {0};
    char why[200];
    if (tls_k3s_token_parse(s, &t, why, sizeof(why)) == 0) {
        tls_k3s_token_free(&t);
        return;
    }
    if (strlen(s) >= 8 && strstr(why, s))
        abort(); /* the reason quotes the token */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), why[200], url[512];
    uint64_t n;
    bool b;
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0'; /* text stops at the first NUL, as it does from YAML or the environment */
    durations(s);
    addresses(s);
    token(s);
    (void)config_parse_uint(s, 0, UINT64_MAX, true, &n, why, sizeof(why));
    (void)config_parse_bool(s, &b, why, sizeof(why));
    (void)config_parse_server_url(s, url, sizeof(url), why, sizeof(why));
    free(s);
    return 0;
}
