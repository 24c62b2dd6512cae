"""An active-active fixed address over BGP and ECMP with real routing daemons, in network
namespaces this test creates:

    client 10.201.0.10 --[front]-- router .1 / 10.202.0.1 (FRR, ECMP) --[mid]--
        lb1 .11 (FRR), lb2 .12 (FRR), lb3 .13 (BIRD), lb4 .14 (BIRD, added later)
        --[back]-- be1..be3 10.203.0.21..23

Every lb runs k3lb with announce: the anycast address 10.200.0.100 on k3lb's interface while
its frontend has usable servers, and its routing daemon with the shipped deploy/bgp/ recipe
(this lab's addresses put in). The router runs deploy/bgp/router-frr.conf. A client opens a
new connection every 20 ms and holds 30 long-lived ones; for each fault the test measures how
long new connections failed, how many long-lived ones were lost on the failed node and on the
others, and how long the router took to drop the node's path. Faults: k3lb killed, k3lb
stopped (SIGSTOP), a node losing every backend, a node's link down, a graceful stop, a node
added. Twice: the router forwarding as FRR installs the route (hash-threshold ECMP: a change
of the path set moves flows between the other paths too, and those are reset), and through a
resilient nexthop group (resilient ECMP, as datacenter switches offer it: the flows on the
other paths stay, none of them is lost)."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from k3lbtest import TOOLS, Holder, K3lb, Prober, outage, sanitized

from contrib.lab import routing  # noqa: E402
from contrib.lab.netns import Lab, sh  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "../..")
VIP = "10.200.0.100"
NODES = {"lb1": "frr", "lb2": "frr", "lb3": "bird", "lb4": "bird"}

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 or routing.available() is not None,
        reason="needs root (network namespaces) and %s" % (routing.available() or "FRR and BIRD")),
    # what it adds is the routing daemons' timing; k3lb's announce code runs sanitized in
    # test_announce.py (the same faults), which keeps the suite's second pass short
    pytest.mark.skipif(sanitized(), reason="measured in the plain pass only")]


def recipe(name, replacements, drop=()):
    """A shipped recipe with this lab's addresses: every replacement must apply."""
    text = open(os.path.join(ROOT, "deploy/bgp", name)).read()
    for old, new in replacements:
        assert old in text, (name, old)
        text = text.replace(old, new)
    for pattern in drop:  # what the lab has no peer for
        text, n = re.subn(pattern, "", text, flags=re.S | re.M)
        assert n, (name, pattern)
    return text


def node_config(name):
    i = int(name[2:])
    if NODES[name] == "frr":
        return recipe("frr.conf", [
            ("hostname k3lb-node1", "hostname " + name),
            ("log syslog informational", "log stdout informational"),
            ("permit 10.0.0.100/32", "permit %s/32" % VIP),
            ("router bgp 65101", "router bgp %d" % (65100 + i)),
            ("bgp router-id 10.0.0.11", "bgp router-id 10.202.0.1%d" % i),
            ("neighbor 10.0.0.1 peer-group", "neighbor 10.202.0.1 peer-group"),
            ("timers connect 5", "timers connect 1")],  # the lab restarts sessions often
            drop=[r"^ neighbor 10\.0\.0\.2 .*?\n", r"^ neighbor fd00::1 .*?\n"])
    return "log stderr all;\ndebug protocols { states, events };\n" + recipe("bird.conf", [
        ("router id 10.0.0.13", "router id 10.202.0.1%d" % i),
        ("K3LB_AS = 65103", "K3LB_AS = %d" % (65100 + i)),
        ("[ 10.0.0.100/32 ]", "[ %s/32 ]" % VIP),
        ("neighbor 10.0.0.1 as", "neighbor 10.202.0.1 as"),
        ("connect retry time 5", "connect retry time 1")],
        drop=[r"^protocol bgp router1v6 .*?^}\n"])


def router_config():
    return recipe("router-frr.conf", [
        ("bgp router-id 10.0.0.1", "bgp router-id 10.202.0.1"),
        ("neighbor 10.0.0.11 peer-group K3LB", "".join(
            "neighbor 10.202.0.1%d peer-group K3LB\n " % int(n[2:]) for n in NODES)),
        ("timers connect 5", "timers connect 1")],
        drop=[r"^ neighbor 10\.0\.0\.1[23] .*?\n"])


def k3lb_config(admin):
    servers = ", ".join('"10.203.0.%d:7000"' % (21 + k) for k in range(3))
    return ("admin: {listen: \"unix:%s\"}\nstop_delay: 1s\n"
            "announce: {addresses: [\"%s/32\"], lifetime: 1s}\n"
            "frontends:\n  - {name: apiserver, listen: [\"%s:6443\"], backend: servers,"
            " freebind: true}\n"
            "backends:\n  - name: servers\n    servers: [%s]\n"
            "    health: {kind: tcp, interval: 300ms, timeout: 250ms, rise: 2, fall: 2,\n"
            "             down_interval: 300ms}\n" % (admin, VIP, VIP, servers))


class Node:
    def __init__(self, lab, tmp_path, name):
        self.lab, self.name, self.dir = lab, name, str(tmp_path / name)
        os.makedirs(self.dir, exist_ok=True)
        self.admin = os.path.join(self.dir, name + ".sock")
        if NODES[name] == "frr":
            self.router = routing.Frr(lab, name, node_config(name), logs=self.dir)
        else:
            self.router = routing.Bird(lab, name, self.dir, node_config(name))
        self.k3lb = None
        self.start_k3lb()

    def start_k3lb(self):
        self.k3lb = K3lb(self.dir)
        self.k3lb.admin_unix = self.admin
        self.k3lb.start(k3lb_config(self.admin), wrap=self.lab.cmd(self.name))

    def address(self):
        """Toward the router: the nexthop of its path."""
        return "10.202.0.1%d" % int(self.name[2:])

    def back_address(self):
        """Toward the backends: what they see a connection it carried come from."""
        return "10.203.0.1%d" % int(self.name[2:])

    def announcing(self):
        try:
            return self.k3lb.status().get("announce", {}).get("announced", False)
        except OSError:
            return False


def ecmp_paths(lab):
    """The nexthops the router forwards the anycast address to: its resilient group's when it
    has one, else the multipath route zebra installed."""
    if lab.fib:
        with lab.fib.lock:
            return list(lab.fib.group)
    out = sh("ip", "-n", lab.ns("rt"), "route", "show", VIP)
    return sorted(re.findall(r"via (10\.202\.0\.\d+)", out))


def wait(predicate, timeout, what, explain=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError("timed out waiting for %s\n%s" % (what, explain()))


def explain(lab, nodes):
    """What the routers and balancers say: for a failed wait."""
    rt = lab.made_routers[0]
    out = [rt.vtysh("show bgp summary", "show ip route " + VIP), rt.log()]
    for n in nodes.values():
        state = (n.router.birdc("show", "protocols") + n.router.birdc("show", "route", "all")
                 if isinstance(n.router, routing.Bird) else n.router.vtysh("show ip bgp"))
        out.append("--- %s\n%s\n%s\n%s\n%s" % (
            n.name, sh("ip", "-n", n.lab.ns(n.name), "addr", "show", "k3lb-announce"), state,
            n.router.log()[-1500:], n.k3lb.log()[-1500:]))
    return "\n".join(out)


@pytest.fixture(params=["hash-threshold", "resilient"])
def lab(tmp_path, request):
    """The router forwards as FRR installs its routes (hash-threshold ECMP), or through a
    resilient nexthop group with the same paths (routing.ResilientFib)."""
    lab = Lab()
    lab.fib = None
    made = []
    try:
        for h in ["cl", "rt", "be1", "be2", "be3", *NODES]:
            lab.host(h)
        for b in ("front", "mid", "back"):
            lab.bridge(b)
        lab.link("cl", "eth0", "front", "10.201.0.10/24")
        lab.link("rt", "eth0", "front", "10.201.0.1/24")
        lab.link("rt", "eth1", "mid", "10.202.0.1/24")
        sh("ip", "-n", lab.ns("cl"), "route", "add", "default", "via", "10.201.0.1")
        sh("ip", "netns", "exec", lab.ns("rt"), "sysctl", "-qw",
           "net.ipv4.fib_multipath_hash_policy=1")  # spread flows by their ports too
        for n in NODES:
            i = int(n[2:])
            lab.link(n, "eth0", "mid", "10.202.0.1%d/24" % i)
            lab.link(n, "eth1", "back", "10.203.0.1%d/24" % i)
            sh("ip", "-n", lab.ns(n), "route", "replace", "default", "via", "10.202.0.1")
        for k in range(3):
            lab.link("be%d" % (k + 1), "eth0", "back", "10.203.0.%d/24" % (21 + k))
            lab.popen("be%d" % (k + 1), [sys.executable, os.path.join(TOOLS, "backend.py"),
                                         "--fd", "{fd}", "--mode", "peer",
                                         "--name", "be%d" % (k + 1)],
                      bind="10.203.0.%d:7000" % (21 + k), stdout=subprocess.DEVNULL)
        made.append(routing.Frr(lab, "rt", router_config(), logs=str(tmp_path)))
        lab.made_routers = made
        if request.param == "resilient":
            lab.fib = routing.ResilientFib(lab, "rt", VIP, "eth1")
            made.append(lab.fib)
        yield lab
    finally:
        for r in made:
            r.close()
        lab.close()


def test_active_active_over_bgp_with_ecmp(lab, tmp_path, capsys):
    resilient = lab.fib is not None
    nodes = {n: Node(lab, tmp_path, n) for n in ("lb1", "lb2", "lb3")}
    rows, others = [], []
    try:
        wait(lambda: len(ecmp_paths(lab)) == 3, 30, "three ECMP paths",
             lambda: explain(lab, nodes))
        probe = Prober(lab, "cl", VIP + ":6443")
        probe.wait_ok(time.monotonic())

        def measure(label, victim, fault, heal=None):
            holder = Holder(lab, "cl", VIP + ":6443")
            before = len(ecmp_paths(lab))
            t0 = time.monotonic()
            fault(victim)
            if victim:
                conv = wait(lambda: victim.address() not in ecmp_paths(lab), 10,
                            "the router dropping " + victim.name) - t0
            else:
                conv = wait(lambda: len(ecmp_paths(lab)) == before + 1, 20,
                            "the router adding the node") - t0
            time.sleep(1.0)  # a second of traffic on the new paths (bounded)
            probe.wait_ok(t0)
            down, failed = outage(probe.after(t0), t0)
            there = victim.back_address() if victim else None
            held_here = sum(1 for lb in holder.open.values() if lb == there)
            lost_here = sum(1 for _, lb, _ in holder.lost if lb == there)
            lost_others = len(holder.lost) - lost_here
            if lost_others:
                others.append((label, [(round(t - t0, 2), lb, why) for t, lb, why in holder.lost
                                       if lb != there],
                               [(round(t - t0, 2), h) for t, h in (lab.fib.history if lab.fib
                                                                  else []) if t > t0 - 5]))
            holder.close()
            rows.append((label, victim.name if victim else "lb4", down, failed,
                         "%d/%d" % (lost_here, held_here),
                         "%d/%d" % (lost_others, len(holder.open) - held_here), conv))
            if heal:
                heal(victim)
                wait(lambda: victim.address() in ecmp_paths(lab), 20, "the node back")
                probe.wait_ok(time.monotonic())
            return down, failed, lost_others

        def restart(n):
            n.k3lb.close()
            n.start_k3lb()

        def link_up(n):  # the kernel dropped the default route with the link
            lab.set_link(n.name, "eth0", True)
            sh("ip", "-n", lab.ns(n.name), "route", "replace", "default", "via", "10.202.0.1")

        def add(_):
            nodes["lb4"] = Node(lab, tmp_path, "lb4")

        kill = measure("k3lb killed", nodes["lb1"], lambda n: n.k3lb.proc.kill(), restart)
        hang = measure("k3lb stopped (SIGSTOP)", nodes["lb3"],
                       lambda n: n.k3lb.signal(signal.SIGSTOP),
                       lambda n: n.k3lb.signal(signal.SIGCONT))
        lost = measure("backends lost", nodes["lb2"],
                       lambda n: lab.set_link(n.name, "eth1", False),
                       lambda n: lab.set_link(n.name, "eth1", True))
        link = measure("link down", nodes["lb3"], lambda n: lab.set_link(n.name, "eth0", False),
                       link_up)
        graceful = measure("graceful stop", nodes["lb1"],
                           lambda n: n.k3lb.signal(signal.SIGTERM), restart)
        added = measure("node added", None, add)
        t_added = time.monotonic()
        # the new node takes new connections: at once with hash-threshold, as buckets go idle
        # with a resilient group
        wait(lambda: any(ok and what.endswith(nodes["lb4"].back_address())
                         for _, ok, what in probe.after(t_added - 2)), 10,
             "new connections through lb4")
        faults = (kill, hang, lost, link, graceful, added)
        for n in nodes.values():
            assert n.announcing()
    finally:
        with capsys.disabled():
            print("\nECMP on the router: %s" % ("resilient nexthop group" if resilient
                                                 else "hash-threshold (FRR's multipath route)"))
            print("%-24s %-5s %9s %7s %10s %12s %11s" % (
                "fault", "node", "fail (s)", "failed", "lost there", "lost others",
                "path gone"))
            for r in rows:
                print("%-24s %-5s %9.2f %7d %10s %12s %10.2fs" % r)
            for label, lost, paths in others:  # when, through which node, why; and the paths
                print("lost on the other nodes at %s: %s; paths: %s" % (label, lost, paths))
        for n in nodes.values():
            if n.k3lb and n.k3lb.proc.poll() is None:
                n.k3lb.signal(signal.SIGCONT)
            n.k3lb.close()  # fails on a sanitizer report
            n.router.close()
    assert kill[0] <= 1.0 and link[0] <= 1.0, rows
    assert hang[0] <= 1.0 + 1.5, rows  # the address's lifetime, in whole seconds
    assert graceful[1] == 0 and added[1] == 0, rows
    if resilient:  # the flows on the other paths stayed where they were
        assert all(f[2] == 0 for f in faults), (rows, others)
