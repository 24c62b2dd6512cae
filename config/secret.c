/* Reading secrets; see secret.h. */
#include "config/secret.h"
#include "common/xalloc.h"

#include <stdbool.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MAX 4096

/* The checks every secret passes, wherever it came from: a secret that would be cut (a NUL, too
 * long) or that could end a header line (CR, LF or any other control character) is refused,
 * never used in part. */
static bool secret_ok(const char *buf, size_t n, const char *what, char *why, size_t whylen)
{
    if (n > SECRET_MAX) {
        snprintf(why, whylen, "%s is longer than %d bytes", what, SECRET_MAX);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == 0 || c < 0x20 || c == 0x7f) {
            snprintf(why, whylen, "%s contains %s (byte %zu): refused, not cut", what,
                     c == 0                   ? "a NUL byte"
                     : c == '\n' || c == '\r' ? "a line break"
                                              : "a control character",
                     i + 1);
            return false;
        }
    }
    if (!n) {
        snprintf(why, whylen, "%s is empty", what);
        return false;
    }
    return true;
}

char *config_secret_read(const char *file, const char *env, const char *what, char *why,
                         size_t whylen)
{
    char buf[SECRET_MAX + 2], *out = NULL;
    size_t n;

    if (env) {
        const char *v = getenv(env);
        if (!v) {
            snprintf(why, whylen, "%s: environment variable %s is not set", what, env);
            return NULL;
        }
        n = strnlen(v, SECRET_MAX + 1);
        memcpy(buf, v, n);
    } else if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            snprintf(why, whylen, "%s: cannot read %s: %s", what, file, strerror(errno));
            return NULL;
        }
        n = fread(buf, 1, SECRET_MAX + 1, f); /* one more than allowed: too long is seen */
        fclose(f);
    } else {
        snprintf(why, whylen, "%s: neither a file nor a variable is named", what);
        return NULL;
    }
    /* one trailing line end (and spaces) is how files and shells write a value */
    while (n &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    char label[600];
    snprintf(label, sizeof(label), "%s (%s%s)", what, env ? "$" : "", env ? env : file);
    if (secret_ok(buf, n, label, why, whylen))
        out = xstrndup(buf, n);
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
