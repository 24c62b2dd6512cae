/* The sockmap probe's BPF program (see probe.c): every segment a relayed socket receives is
 * sent on by the kernel from the socket paired with it, never reaching user space.
 *
 * The sockhash is keyed by a socket's cookie and holds its peer: the entry under the client
 * socket's cookie is the server socket and the reverse, so one lookup finds where bytes go. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_SOCKHASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, __u64);
} probe_peers SEC(".maps");

/* Set by probe.c to choose the strparser flavour: each skb is one message. */
SEC("sk_skb/stream_parser")
int probe_parser(struct __sk_buff *skb)
{
    return skb->len;
}

SEC("sk_skb/stream_verdict")
int probe_verdict(struct __sk_buff *skb)
{
    __u64 self = bpf_get_socket_cookie(skb);
    return bpf_sk_redirect_hash(skb, &probe_peers, &self, 0);
}

char LICENSE[] SEC("license") = "GPL";
