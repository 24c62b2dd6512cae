/* K3s token parsing and the credentials it carries. */
#include "tls/token.h"
#include "common/xalloc.h"
#include "config/value.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

char *tls_auth_basic(const char *user, size_t user_len, const char *password)
{
    size_t n = user_len + 1 + strlen(password);
    char *creds = xmalloc(n + 1), *out;
    memcpy(creds, user, user_len);
    creds[user_len] = ':';
    memcpy(creds + user_len + 1, password, strlen(password) + 1);
    out = config_auth_basic(creds, n);
    OPENSSL_cleanse(creds, n);
    free(creds);
    return out;
}

/* A kubeadm bootstrap token, "[a-z0-9]{6}.[a-z0-9]{16}" (what K3s tries first). */
static bool bootstrap_token(const char *s)
{
    for (int i = 0; i < 23; i++) {
        bool ok =
            i == 6 ? s[i] == '.' : (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');
        if (!ok)
            return false;
    }
    return s[23] == '\0';
}

int tls_k3s_token_parse(const char *token, struct tls_k3s_token *out, char *why, size_t whylen)
{
    const char *creds = token, *colon;
    memset(out, 0, sizeof(*out));
    if (!*token) {
        snprintf(why, whylen, "the K3s token is empty");
        return -1;
    }
    if (strncmp(token, "K10", 3) == 0) {
        const char *sep = strstr(token + 3, "::");
        size_t n = sep ? (size_t)(sep - token - 3) : 0;
        if (sep && n != 0 && n != 64) {
            snprintf(why, whylen, "the K3s token's CA hash has %zu characters, not 64", n);
            return -1;
        }
        if (n)
            out->ca_hash = xstrndup(token + 3, n);
        creds = sep ? sep + 2 : token + 3;
        if (bootstrap_token(creds)) {
            out->authorization = tls_auth_bearer(creds);
            return 0;
        }
        colon = strchr(creds, ':');
        if (!colon || !colon[1]) {
            tls_k3s_token_free(out);
            snprintf(why, whylen, "the K3s token has no user:password after its CA hash");
            return -1;
        }
        if (colon - creds == 6 && strncmp(creds, "server", 6) == 0)
            out->server_authorization = tls_auth_basic("server", 6, colon + 1);
        creds = colon + 1; /* the user part is replaced: agents always say "node" */
    } else if (bootstrap_token(token)) {
        out->authorization = tls_auth_bearer(token);
        return 0;
    }
    /* A server token ("server:pw") works for agents as user node with the same password; a
     * bare string is a password (even one with a colon in it). */
    out->authorization = tls_auth_basic("node", 4, creds);
    return 0;
}

char *tls_auth_bearer(const char *token)
{
    size_t n = strlen(token) + 8;
    char *out = xmalloc(n);
    snprintf(out, n, "Bearer %s", token);
    return out;
}

void tls_k3s_token_free(struct tls_k3s_token *t)
{
    if (t->authorization) {
        OPENSSL_cleanse(t->authorization, strlen(t->authorization));
        free(t->authorization);
    }
    if (t->server_authorization) {
        OPENSSL_cleanse(t->server_authorization, strlen(t->server_authorization));
        free(t->server_authorization);
    }
    free(t->ca_hash);
    memset(t, 0, sizeof(*t));
}

void tls_sha256_hex(const char *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}
