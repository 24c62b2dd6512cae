/* The TUN interface and its addresses (see ifaddr.h), through rtnetlink: one request, then the
 * kernel's acknowledgement read back on the same socket. */
#include "common/ifaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int ifaddr_tun_open(const char *name, char *err, size_t errlen)
{
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), s = -1;
    if (fd < 0) {
        snprintf(err, errlen, "cannot open /dev/net/tun: %s", strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errlen, "cannot create interface %s: %s%s", name, strerror(errno),
                 errno == EPERM ? " (k3lb needs CAP_NET_ADMIN to announce)" : "");
        goto fail;
    }
    if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        goto down;
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        goto down;
    close(s);
    return fd;
down:
    snprintf(err, errlen, "cannot bring interface %s up: %s", name, strerror(errno));
fail:
    if (s >= 0)
        close(s);
    close(fd);
    return -1;
}

struct nlreq {
    struct nlmsghdr h;
    union {
        struct ifaddrmsg ifa;
        struct rtmsg rt;
    } u;
    char attrs[128];
};

static void add_attr(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Sends the request and reads the kernel's answer: 0, or the negative errno it reported. */
static int talk(struct nlreq *r)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    char buf[4096];
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), rc = -EIO;
    struct timeval tv = {2, 0};
    if (s < 0)
        return -errno;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->h.nlmsg_seq = 1;
    if (sendto(s, r, r->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        rc = -errno;
    } else {
        ssize_t n = recv(s, buf, sizeof(buf), 0);
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        if (n < 0)
            rc = -errno;
        else if (NLMSG_OK(h, (unsigned)n) && h->nlmsg_type == NLMSG_ERROR)
            rc = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
    close(s);
    return rc;
}

static void addr_req(struct nlreq *r, int type, unsigned flags, unsigned ifindex,
                     const struct net_cidr *addr)
{
    size_t alen = addr->family == AF_INET ? 4 : 16;
    memset(r, 0, sizeof(*r));
    r->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    r->h.nlmsg_type = (unsigned short)type;
    r->h.nlmsg_flags = (unsigned short)flags;
    r->u.ifa.ifa_family = (unsigned char)addr->family;
    r->u.ifa.ifa_prefixlen = (unsigned char)addr->bits;
    r->u.ifa.ifa_index = ifindex;
    r->u.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    add_attr(r, IFA_LOCAL, addr->addr, alen);
    add_attr(r, IFA_ADDRESS, addr->addr, alen);
}

int ifaddr_set(const char *ifname, const struct net_cidr *addr, unsigned lifetime_s, char *err,
               size_t errlen)
{
    struct nlreq r;
    struct ifa_cacheinfo ci = {.ifa_prefered = lifetime_s, .ifa_valid = lifetime_s};
    unsigned ifindex = if_nametoindex(ifname);
    int rc;
    if (!ifindex) {
        snprintf(err, errlen, "no interface %s", ifname);
        return -1;
    }
    addr_req(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, addr);
    add_attr(&r, IFA_CACHEINFO, &ci, sizeof(ci));
    if ((rc = talk(&r)) < 0) {
        snprintf(err, errlen, "cannot put the address on %s: %s", ifname, strerror(-rc));
        return -1;
    }
    return 0;
}

int ifaddr_del(const char *ifname, const struct net_cidr *addr, char *err, size_t errlen)
{
    struct nlreq r;
    unsigned ifindex = if_nametoindex(ifname);
    int rc;
    if (!ifindex)
        return 0; /* the interface, and so the address, is gone */
    addr_req(&r, RTM_DELADDR, 0, ifindex, addr);
    rc = talk(&r);
    if (rc < 0 && rc != -EADDRNOTAVAIL && rc != -ENODEV) {
        snprintf(err, errlen, "cannot take the address off %s: %s", ifname, strerror(-rc));
        return -1;
    }
    return 0;
}

int ifaddr_local_route(const char *ifname, const struct net_cidr *addr, bool add, char *err,
                       size_t errlen)
{
    struct nlreq r;
    unsigned ifindex = if_nametoindex(ifname);
    uint32_t prio = 100, oif = ifindex;
    int rc;
    if (!ifindex && !add)
        return 0; /* gone with the interface */
    if (!ifindex) {
        snprintf(err, errlen, "no interface %s", ifname);
        return -1;
    }
    memset(&r, 0, sizeof(r));
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    r.h.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    r.h.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_REPLACE : 0;
    r.u.rt.rtm_family = (unsigned char)addr->family;
    r.u.rt.rtm_dst_len = (unsigned char)addr->bits;
    r.u.rt.rtm_table = RT_TABLE_LOCAL;
    r.u.rt.rtm_protocol = RTPROT_STATIC;
    r.u.rt.rtm_scope = RT_SCOPE_HOST;
    r.u.rt.rtm_type = RTN_LOCAL;
    add_attr(&r, RTA_DST, addr->addr, addr->family == AF_INET ? 4 : 16);
    add_attr(&r, RTA_OIF, &oif, sizeof(oif));
    add_attr(&r, RTA_PRIORITY, &prio, sizeof(prio));
    rc = talk(&r);
    if (rc < 0 && !(!add && (rc == -ESRCH || rc == -ENODEV))) {
        snprintf(err, errlen, "cannot %s the local route of the address on %s: %s",
                 add ? "add" : "remove", ifname, strerror(-rc));
        return -1;
    }
    return 0;
}
