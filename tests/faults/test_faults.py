"""The fault suite: real processes in network namespaces this test creates, one fault at a time
on one backend while a bounded client moves checked data through k3lb.

    client 10.103.0.10 --[net]-- k3lb 10.103.0.2:7000 --[net]-- be1..be3 10.103.0.11..13:7000

The backends run tools/backend.py's integrity mode, which also answers the http check. Faults
on be1: SIGKILL, SIGSTOP, its link down, iptables DROP (a black hole), iptables REJECT (resets),
random loss (iptables -m statistic, as this kernel has no netem) and a slow link (tbf).

Asserted for every fault:
  - no connection moved wrong bytes: each either passed its sha256 check both ways or failed
    outright (a connection error or a short stream, never different data);
  - no connection hung: each ended within the configured timeouts (on the slow link, plus the
    time its bytes take at the link's rate shared by the client's connections);
  - a fault that breaks be1 only fails connections that were on it before k3lb avoided it:
    every connection started later succeeds;
  - under loss and a slow link, a connection fails only if k3lb took be1 down while it was
    open (a run of lost probe packets fails the check; the table counts those downs).
The table printed at the end gives, per fault: connections, bytes, failures, mismatches, hangs,
time until be1 was avoided, k3lb's RSS.

CI mode (default): 400 connections per fault, about a minute in all. Long mode, by hand:
    K3LB_FAULTS_CONNECTIONS=100000 K3LB_BIN=build/k3lb python3 -m pytest -s tests/faults
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from k3lbtest import TOOLS, K3lb  # noqa: E402
from contrib.lab.net import wait_until  # noqa: E402
from contrib.lab.netns import Lab, sh  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CONNECTIONS = int(os.environ.get("K3LB_FAULTS_CONNECTIONS", "400"))
SECONDS = max(20.0, CONNECTIONS / 15.0)  # the load's own bound
BACKENDS = ("be1", "be2", "be3")
LB = "10.103.0.2"
# Health and timeouts of the config below; a connection on a failed path must end within
# HANG_S: detection (fall x (interval + timeout)), then on_down: close, or idle_timeout.
INTERVAL, TIMEOUT, FALL, IDLE = 0.5, 0.4, 2, 5.0
HANG_S = IDLE + FALL * (INTERVAL + TIMEOUT) + 2.0

# On the 8 mbit link a connection's bytes take their time: the client's 6 connections at once
# may all share be1's 1 MB/s. A hang there is a connection slower than that, not one longer
# than HANG_S (the long mode saw a 4 MB answer take 9.8 s, complete and correct).
CONCURRENCY = 6
SLOW_BYTES_PER_S = {"slow_8mbit": 8e6 / 8 / CONCURRENCY}


def hang_bound(fault, r):
    rate = SLOW_BYTES_PER_S.get(fault)
    return HANG_S + ((r["up"] + r["down"]) / rate if rate else 0.0)


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/sbin/iptables"),
    reason="needs root (network namespaces) and iptables")


def k3lb_config(admin):
    servers = ", ".join('"10.103.0.%d:7000"' % (11 + i) for i in range(len(BACKENDS)))
    return ("admin: {listen: \"unix:%s\"}\n"
            "frontends:\n  - {name: front, listen: [\"%s:7000\"], backend: pool}\n"
            "backends:\n  - name: pool\n    balance: leastconn\n    connect_timeout: 1s\n"
            "    idle_timeout: %ds\n    servers: [%s]\n"
            "    health: {kind: http, path: /, interval: %dms, timeout: %dms, rise: 2,\n"
            "             fall: %d, down_interval: 500ms, on_down: close}\n"
            % (admin, LB, IDLE, servers, INTERVAL * 1000, TIMEOUT * 1000, FALL))


class Net:
    """The namespaces, the backends and k3lb; faults are applied to and healed on be1."""

    def __init__(self):
        self.lab = Lab()
        self.dir = tempfile.mkdtemp(prefix="k3lb-faults-")
        self.lab.bridge("net")
        for i, h in enumerate(("client", "lb") + BACKENDS):
            self.lab.host(h)
            addr = {"client": 10, "lb": 2}.get(h, 11 + i - 2)
            self.lab.link(h, "eth0", "net", "10.103.0.%d/24" % addr)
        self.be = {h: self.start_backend(h) for h in BACKENDS}
        self.admin = os.path.join(self.dir, "admin.sock")
        self.k3lb = K3lb(self.dir)
        self.k3lb.admin_unix = self.admin
        self.k3lb.start(k3lb_config(self.admin), wrap=self.lab.cmd("lb"))

    def start_backend(self, h):
        addr = "10.103.0.%d:7000" % (11 + BACKENDS.index(h))
        return self.lab.popen(h, [sys.executable, os.path.join(TOOLS, "backend.py"), "--fd",
                                  "{fd}", "--mode", "integrity"], bind=addr,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def states(self):
        return {s["address"].split(":")[0].rsplit(".", 1)[1]: s["state"]
                for s in self.k3lb.status()["backends"][0]["servers"]}

    def be1(self):
        return next(s for s in self.k3lb.status()["backends"][0]["servers"]
                    if s["address"].startswith("10.103.0.11:"))

    def be1_state(self):
        return self.be1()["state"]

    def all_up(self):
        wait_until(lambda: set(self.states().values()) == {"up"}, 30, "every backend up")

    def rss_kb(self):
        with open("/proc/%d/status" % self.k3lb.proc.pid) as f:
            return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])

    def ns_sh(self, host, *argv):
        sh(*self.lab.cmd(host, *argv))

    def close(self):
        try:
            self.k3lb.close()
        finally:
            self.lab.close()


# name: (apply, heal, breaks be1)
def _kill(net):
    net.be["be1"].kill()
    net.be["be1"].wait()


def _restart(net):
    net.be["be1"] = net.start_backend("be1")


FAULTS = {
    "sigkill": (_kill, _restart, True),
    "sigstop": (lambda n: n.be["be1"].send_signal(signal.SIGSTOP),
                lambda n: n.be["be1"].send_signal(signal.SIGCONT), True),
    "link_down": (lambda n: n.lab.set_link("be1", "eth0", False),
                  lambda n: n.lab.set_link("be1", "eth0", True), True),
    "drop": (lambda n: n.ns_sh("be1", "iptables", "-A", "INPUT", "-j", "DROP"),
             lambda n: n.ns_sh("be1", "iptables", "-F", "INPUT"), True),
    "reject": (lambda n: n.ns_sh("be1", "iptables", "-A", "INPUT", "-p", "tcp", "-j", "REJECT",
                                 "--reject-with", "tcp-reset"),
               lambda n: n.ns_sh("be1", "iptables", "-F", "INPUT"), True),
    "loss_3pct": (lambda n: n.ns_sh("be1", "iptables", "-A", "INPUT", "-m", "statistic",
                                    "--mode", "random", "--probability", "0.03", "-j", "DROP"),
                  lambda n: n.ns_sh("be1", "iptables", "-F", "INPUT"), False),
    "slow_8mbit": (lambda n: n.ns_sh("be1", "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
                                     "rate", "8mbit", "burst", "32kb", "latency", "150ms"),
                   lambda n: n.ns_sh("be1", "tc", "qdisc", "del", "dev", "eth0", "root"), False),
}


@pytest.fixture(scope="module")
def net():
    n = Net()
    yield n
    n.close()


RESULTS = []


def run_load(net, fault):
    """Runs the client, applies the fault once a third of the connections are done, watches
    be1's state. Returns (records, t_fault, t_avoid, downs): when k3lb first avoided be1 after
    the fault, and every moment it saw be1 go down."""
    apply, heal, breaks = FAULTS[fault]
    client = net.lab.popen("client", [sys.executable, os.path.join(HERE, "loadclient.py"),
                                      "--target", LB + ":7000", "--count", str(CONNECTIONS),
                                      "--seconds", str(SECONDS), "--io-timeout",
                                      str(HANG_S + 5), "--concurrency", str(CONCURRENCY)],
                           stdout=subprocess.PIPE, text=True)
    records, t_fault, t_avoid, downs, was = [], None, None, [], "up"
    deadline = time.monotonic() + SECONDS + HANG_S + 60
    try:
        for line in client.stdout:
            rec = json.loads(line)
            if "done" in rec:
                break
            records.append(rec)
            if t_fault is None and len(records) >= CONNECTIONS // 3:
                apply(net)
                t_fault = time.monotonic()
            state = net.be1_state()
            if state == "down" and was == "up":
                downs.append(time.monotonic())
                if t_fault and t_avoid is None:
                    t_avoid = downs[-1]
            was = state
            assert time.monotonic() < deadline, "the load did not end in time"
        client.wait(30)
        if t_fault and t_avoid is None and net.be1_state() == "down":
            t_avoid = time.monotonic()
    finally:
        if client.poll() is None:
            client.kill()
        if t_fault is not None:
            heal(net)
    return records, t_fault, t_avoid, downs


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault(net, fault):
    net.all_up()
    rss_before = net.rss_kb()
    records, t_fault, t_avoid, downs = run_load(net, fault)
    breaks = FAULTS[fault][2]
    assert t_fault is not None, "the load ended before the fault was applied"
    failed = [r for r in records if r["err"]]
    mismatched = [r for r in failed if "differs" in r["err"] or "FIN" in r["err"]]
    hung = [r for r in records if r["t1"] - r["t0"] > hang_bound(fault, r)]
    moved = sum(r["up"] + r["down"] for r in records if not r["err"])
    RESULTS.append((fault, len(records), moved, len(failed), len(mismatched), len(hung),
                    (t_avoid - t_fault) if t_avoid and breaks else None, len(downs), rss_before,
                    net.rss_kb()))
    assert len(records) == CONNECTIONS, "the client finished %d of %d connections" % (
        len(records), CONNECTIONS)
    assert not mismatched, "wrong bytes: %s" % mismatched[:3]
    assert not hung, "hung connections: %s" % hung[:3]
    if breaks:
        assert t_avoid is not None, "k3lb never took be1 down"
        # From a moment after be1 was avoided, every new connection works.
        late = [r for r in failed if r["t0"] > t_avoid + 0.2]
        assert not late, "connections failed after be1 was avoided: %s" % late[:3]
    else:
        # TCP rides out loss and a slow link: a connection fails only when k3lb took be1 down
        # meanwhile (probes lose packets too: enough lost in a row is a failed check) and
        # closed what ran on it (on_down: close), and then it was open at that moment.
        cut = [r for r in failed
               if not any(r["t0"] - 0.5 <= d <= r["t1"] + 0.5 for d in downs)]
        assert not cut, "connections failed under %s with be1 up: %s" % (fault, cut[:3])
    # healed: be1 comes back
    wait_until(lambda: net.be1_state() == "up", 30, "be1 up after healing %s" % fault)


def test_print_table(net, capsys):
    """The figures, for the closing note and the README (run last)."""
    with capsys.disabled():
        print("\n%-11s %6s %10s %7s %9s %5s %8s %6s %15s" % (
            "fault", "conns", "MB ok", "failed", "mismatch", "hung", "avoid_s", "downs",
            "rss_kB"))
        for f, n, b, fl, mm, h, av, dn, r0, r1 in RESULTS:
            print("%-11s %6d %10.1f %7d %9d %5d %8s %6d %7d->%7d" % (
                f, n, b / 1e6, fl, mm, h, "%.2f" % av if av is not None else "-", dn, r0, r1))
    assert len(RESULTS) == len(FAULTS)
