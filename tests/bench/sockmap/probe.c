/* A measurement probe, not a forwarding path: the smallest TCP relay that moves bytes socket to
 * socket inside the kernel with a BPF sockmap (sk_skb stream verdict + bpf_sk_redirect_hash), to
 * measure what that would give k3lb before building it into lb_forward(). One thread per
 * connection; the sockets go into the sockhash as soon as the server answers the connect, and a
 * FIN is passed on without waiting for bytes still queued in the kernel, so it is only fit for
 * throughput runs such as iperf3 (which counts at the receiver).
 *
 *   probe OBJ LISTEN_PORT SERVER_PORT [parser]     (127.0.0.1 only)
 *
 * Prints "ready" on stderr once it listens. "parser" also attaches the stream parser
 * (the strparser flavour of the same path). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int peers_fd;
static uint16_t server_port;

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static uint64_t cookie(int fd)
{
    uint64_t c = 0;
    socklen_t len = sizeof(c);
    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len);
    return c;
}

/* Each socket's entry names its peer. A segment that arrived before its socket entered the map
 * waits in the receive queue until something wakes the socket; setting SO_RCVLOWAT does
 * (tcp_set_rcvlowat calls data_ready), so the verdict runs on it at once. */
static int pair(int a, int b)
{
    uint64_t ka = cookie(a), kb = cookie(b), va = (uint64_t)b, vb = (uint64_t)a;
    int one = 1;
    if (bpf_map_update_elem(peers_fd, &ka, &va, BPF_ANY) ||
        bpf_map_update_elem(peers_fd, &kb, &vb, BPF_ANY))
        return -1;
    setsockopt(a, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    setsockopt(b, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    return 0;
}

static void *relay(void *arg)
{
    int c = (int)(intptr_t)arg, s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = loopback(server_port);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || pair(c, s) < 0) {
        perror("probe: relay");
        goto out;
    }
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct pollfd p[2] = {{.fd = c, .events = POLLRDHUP}, {.fd = s, .events = POLLRDHUP}};
    for (int open = 2; open > 0;) {
        if (poll(p, 2, -1) < 0)
            break;
        for (int i = 0; i < 2; i++)
            if (p[i].fd >= 0 && p[i].revents) {
                shutdown(p[1 - i].fd, SHUT_WR);
                p[i].fd = -1;
                open--;
            }
    }
out:
    if (s >= 0)
        close(s);
    close(c);
    return NULL;
}

static int load(const char *path, bool parser)
{
    struct bpf_object *obj = bpf_object__open_file(path, NULL);
    if (!obj || bpf_object__load(obj)) {
        fprintf(stderr, "probe: cannot load %s\n", path);
        return -1;
    }
    peers_fd = bpf_object__find_map_fd_by_name(obj, "probe_peers");
    int verdict = bpf_program__fd(bpf_object__find_program_by_name(obj, "probe_verdict"));
    int parse = bpf_program__fd(bpf_object__find_program_by_name(obj, "probe_parser"));
    if ((parser && bpf_prog_attach(parse, peers_fd, BPF_SK_SKB_STREAM_PARSER, 0)) ||
        bpf_prog_attach(verdict, peers_fd, BPF_SK_SKB_STREAM_VERDICT, 0)) {
        perror("probe: attach");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: probe OBJ LISTEN_PORT SERVER_PORT [parser]\n");
        return 2;
    }
    server_port = (uint16_t)atoi(argv[3]);
    if (load(argv[1], argc > 4 && strcmp(argv[4], "parser") == 0) < 0)
        return 1;
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = loopback((uint16_t)atoi(argv[2]));
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 128) < 0) {
        perror("probe: listen");
        return 1;
    }
    fprintf(stderr, "ready\n");
    for (;;) {
        int c = accept(l, NULL, NULL);
        pthread_t t;
        if (c < 0)
            continue;
        if (pthread_create(&t, NULL, relay, (void *)(intptr_t)c) == 0)
            pthread_detach(t);
        else
            close(c);
    }
}
