/* K3s token parsing and the credentials it carries. */
#include "tls/token.h"
#include "common/xalloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tls_auth_basic(const char *user, size_t user_len, const char *password)
{
    size_t n = user_len + 1 + strlen(password);
    char *creds = xmalloc(n + 1), *out = xmalloc(6 + 4 * (n + 2) / 3 + 1);
    memcpy(creds, user, user_len);
    creds[user_len] = ':';
    memcpy(creds + user_len + 1, password, strlen(password) + 1);
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)creds, (int)n);
    OPENSSL_cleanse(creds, n);
    free(creds);
    return out;
}

void tls_k3s_token_parse(const char *token, struct tls_k3s_token *out)
{
    const char *creds = token, *sep = strstr(token, "::"), *colon;
    memset(out, 0, sizeof(*out));
    if (strncmp(token, "K10", 3) == 0 && sep) {
        size_t n = (size_t)(sep - token - 3);
        out->ca_hash = xmalloc(n + 1);
        memcpy(out->ca_hash, token + 3, n);
        out->ca_hash[n] = '\0';
        creds = sep + 2;
    }
    colon = strchr(creds, ':');
    if (creds == token)
        out->authorization = tls_auth_basic("node", 4, creds);
    else if (colon)
        out->authorization = tls_auth_basic(creds, (size_t)(colon - creds), colon + 1);
    else
        out->authorization = tls_auth_bearer(creds);
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
