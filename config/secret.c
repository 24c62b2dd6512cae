/* Reading secrets; see secret.h. */
#include "config/secret.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MAX 4096

char *config_secret_read(const char *file, const char *env, const char *what, char *why,
                         size_t whylen)
{
    char buf[SECRET_MAX + 1], *out;
    size_t n;

    if (env) {
        const char *v = getenv(env);
        if (!v) {
            snprintf(why, whylen, "%s: environment variable %s is not set", what, env);
            return NULL;
        }
        snprintf(buf, sizeof(buf), "%s", v);
    } else if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            snprintf(why, whylen, "%s: cannot read %s: %s", what, file, strerror(errno));
            return NULL;
        }
        n = fread(buf, 1, SECRET_MAX, f);
        fclose(f);
        buf[n] = '\0';
    } else {
        snprintf(why, whylen, "%s: neither a file nor a variable is named", what);
        return NULL;
    }
    n = strlen(buf);
    while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    if (!n) {
        snprintf(why, whylen, "%s is empty", what);
        OPENSSL_cleanse(buf, sizeof(buf));
        return NULL;
    }
    out = xstrdup(buf);
    OPENSSL_cleanse(buf, sizeof(buf));
    return out;
}

void config_secret_free(char *secret)
{
    if (!secret)
        return;
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}
