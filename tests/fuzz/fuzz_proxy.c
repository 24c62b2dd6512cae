/* libFuzzer target: what an HTTP proxy answers to CONNECT (read through a socketpair, as from
 * the network), and the proxy URL and NO_PROXY text from the environment. Any bytes must give
 * an answer (up, more, refused), never a crash, a read past the answer, or a quoted password. */
#include "common/tunnel.h"
#include "config/value.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer(const uint8_t *data, size_t size)
{
    int sv[2];
    char why[200], rest[8];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        return;
    if (size && write(sv[0], data, size) < 0) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    if (write(sv[0], "!", 1) != 1) { /* the server's first byte: must stay in the socket */
        close(sv[0]);
        close(sv[1]);
        return;
    }
    int r = tunnel_recv(sv[1], why, sizeof(why));
    if (r == 1 && read(sv[1], rest, 1) != 1)
        abort(); /* the answer was taken, and more than the answer */
    close(sv[0]);
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), hp[300], why[300], *auth = NULL;
    if (!text)
        return 0;
    answer(data, size);
    memcpy(text, data, size);
    text[size] = '\0';
    if (!config_parse_proxy_url(text, hp, sizeof(hp), &auth, why, sizeof(why)) && auth)
        abort(); /* a refused URL leaves no credentials behind */
    free(auth);
    char *nl = strchr(text, '\n');
    if (nl) { /* NO_PROXY, then a host */
        *nl = '\0';
        config_no_proxy(text, nl + 1, 6443);
    }
    free(text);
    return 0;
}
