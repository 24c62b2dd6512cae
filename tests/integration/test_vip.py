"""Two k3lb machines sharing a virtual IP with real keepalived (Debian's), in network namespaces
this test creates: a client, two balancers and three backends on two bridges

    client 10.101.0.10 --[front]-- lb1 .1, lb2 .2, VIP .100 --[back]-- be1..be3 10.102.0.11..13

keepalived runs the shipped deploy/keepalived/ configs (addresses, paths and the script user
replaced for this lab). A client in its own namespace opens a new connection through the VIP
every 20 ms; for each fault the test measures how long new connections failed and how many.
Faults: (a) SIGKILL of the MASTER's k3lb, (b) the MASTER loses every backend (its back link
goes down), (e) its k3lb hangs (SIGSTOP), (f) its k3lb stops gracefully (SIGTERM, stop_delay),
(c) the MASTER's front link goes down, (d) that link comes back: no flapping, never two holders
of the VIP. Ten long-lived connections held through each fault show how many are lost (all of
the master's: the address moves to a machine where they do not exist)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from k3lbtest import BIN, TOOLS, Holder, K3lb, Prober, outage

from contrib.lab.net import wait_until as wait  # noqa: E402
from contrib.lab.netns import Lab  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "../..")
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
VIP = "10.101.0.100"
LBS = ("lb1", "lb2")
GOAL_S = 3.0

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(KEEPALIVED),
    reason="needs root (network namespaces) and keepalived")


def k3lb_config(admin):
    servers = ", ".join('"10.102.0.%d:6443"' % (11 + i) for i in range(3))
    return ("admin: {listen: \"unix:%s\"}\n"
            # on a stop, still accepting while keepalived moves the address (README); then
            # the connections left cannot finish (their packets reach the other node now)
            "stop_delay: 3s\ngrace: 2s\n"
            # the VIP itself, on the BACKUP too, where it is not (yet): freebind
            "frontends:\n  - {name: apiserver, listen: [\"%s:6443\"], backend: servers,"
            " freebind: true}\n"
            "backends:\n  - name: servers\n    servers: [%s]\n"
            "    health: {kind: tcp, interval: 500ms, timeout: 400ms, rise: 2, fall: 2,\n"
            "             down_interval: 500ms}\n"
            % (admin, VIP, servers))


@pytest.fixture(scope="module")
def script_bin():
    """k3lb where keepalived's script security accepts it: no directory on its path writable
    by anyone but root (a build tree under /tmp is not)."""
    d = tempfile.mkdtemp(prefix="k3lb-test-", dir="/run")
    os.chmod(d, 0o755)
    path = os.path.join(d, "k3lb")
    shutil.copy(BIN, path)
    yield path
    shutil.rmtree(d)


def keepalived_config(node, admin, binary):
    """The shipped config of a node, made to run here: every replacement must apply."""
    text = open(os.path.join(ROOT, "deploy/keepalived/keepalived-node%d.conf" % node)).read()
    for old, new in (
            ("/usr/local/bin/k3lb", binary),
            ("unix:/run/k3lb/admin.sock", "unix:" + admin),
            ("10.0.0.100/24 dev eth0", VIP + "/24 dev eth0"),
            ("script_user k3lb", "script_user root")):  # no k3lb user on a test machine
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def lab(tmp_path):
    lab = Lab()
    try:
        for h in ("cl", "lb1", "lb2", "be1", "be2", "be3"):
            lab.host(h)
        lab.bridge("front")
        lab.bridge("back")
        lab.link("cl", "eth0", "front", "10.101.0.10/24")
        for i, h in enumerate(LBS, 1):
            lab.link(h, "eth0", "front", "10.101.0.%d/24" % i)
            lab.link(h, "eth1", "back", "10.102.0.%d/24" % i)
        for i in range(3):
            h = "be%d" % (i + 1)
            lab.link(h, "eth0", "back", "10.102.0.%d/24" % (11 + i))
            lab.popen(h, [sys.executable, os.path.join(TOOLS, "backend.py"), "--fd", "{fd}",
                          "--mode", "peer", "--name", h], bind="10.102.0.%d:6443" % (11 + i),
                      stdout=subprocess.DEVNULL)
        yield lab
    finally:
        lab.close()


class Node:
    """One balancer machine: k3lb and keepalived in its namespace."""

    def __init__(self, lab, tmp_path, index, script_bin):
        self.lab, self.name, self.dir = lab, LBS[index - 1], str(tmp_path)
        self.admin = os.path.join(self.dir, "%s-admin.sock" % self.name)
        self.k3lb = None
        self.start_k3lb()
        conf = os.path.join(self.dir, "keepalived-%s.conf" % self.name)
        with open(conf, "w") as f:
            f.write(keepalived_config(index, self.admin, script_bin))
        self.ka_log = open(os.path.join(self.dir, "keepalived-%s.log" % self.name), "w")
        pid = os.path.join(self.dir, self.name)
        self.keepalived = lab.popen(self.name, [
            KEEPALIVED, "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp",
            "-f", conf, "-p", pid + ".pid", "-r", pid + "-vrrp.pid"],
            stdout=self.ka_log, stderr=subprocess.STDOUT)

    def start_k3lb(self):
        self.k3lb = K3lb(self.dir)
        self.k3lb.start(k3lb_config(self.admin), wrap=self.lab.cmd(self.name))

    def healthy(self):
        return subprocess.run([BIN, "ctl", "--admin", "unix:" + self.admin, "health"],
                              capture_output=True, timeout=10).returncode == 0

    def vrrp_state(self):
        """The state keepalived last said it entered (MASTER, BACKUP, FAULT), from its log:
        keepalived offers no query that needs no extra setup."""
        states = re.findall(r"\(k3lb_vip\) Entering (\w+) STATE", self.log())
        return states[-1] if states else None

    def holds_vip(self):
        return any(a.startswith(VIP + "/") for a in self.lab.addresses(self.name, "eth0"))

    def log(self):
        self.ka_log.flush()
        with open(self.ka_log.name) as f:
            return f.read()

    def close(self):
        if self.keepalived.poll() is None:
            self.keepalived.terminate()
            try:
                self.keepalived.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.keepalived.kill()
        self.ka_log.close()
        self.k3lb.close()


def test_shipped_keepalived_configs_pass_keepalived_check(tmp_path, script_bin):
    """Both shipped files, and their unicast variant (the commented lines enabled), pass
    keepalived's own config test with the script found."""
    for node in (1, 2):
        text = keepalived_config(node, str(tmp_path / "admin.sock"), script_bin)
        unicast = re.sub(r"# (unicast_src_ip|unicast_peer \{|    10\.0\.0\.\d|\})", r"\1", text)
        assert "unicast_peer {" in unicast and "# unicast" not in unicast
        for variant, body in (("multicast", text), ("unicast", unicast)):
            path = tmp_path / ("node%d-%s.conf" % (node, variant))
            path.write_text(body)
            r = subprocess.run([KEEPALIVED, "--config-test", "-f", str(path)],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, "%s %s:\n%s" % (node, variant, r.stdout + r.stderr)


def test_vip_failover_with_keepalived(lab, tmp_path, capsys, script_bin):
    nodes = {}
    try:
        for i, h in enumerate(LBS, 1):
            nodes[h] = Node(lab, tmp_path, i, script_bin)
        wait(lambda: all(n.healthy() for n in nodes.values()), 15, "both k3lb healthy")
        wait(lambda: nodes["lb1"].holds_vip(), 20, "the VIP on lb1 (the higher priority)")
        probe = Prober(lab, "cl", VIP + ":6443")
        probe.wait_ok(0)
        times, lost, why = {}, {}, {}

        def master():
            held = [n for n in nodes.values() if n.holds_vip()]
            assert len(held) == 1, "VIP held by %s" % [n.name for n in held]
            return held[0]

        def measure(label, fault, heal=None):
            m = master()
            # the peer must be ready to take over: its k3lb healthy, its keepalived a BACKUP
            # (while FAULT it ignores the master's priority-0 advert and must later time out)
            for n in nodes.values():
                if n is not m:
                    wait(lambda: n.vrrp_state() == "BACKUP", 20, n.name + " a BACKUP")
            holder = Holder(lab, "cl", VIP + ":6443", count=10)
            t0 = time.monotonic()
            fault(m)
            probe.wait_ok(t0)
            wait(lambda: not m.holds_vip(), 10, "the VIP gone from " + m.name)
            time.sleep(1.0)  # a second on the new holder: long-lived ones that break show
            times[label] = outage(probe.after(t0), t0)
            why[label] = sorted({w for _, ok, w in probe.after(t0) if not ok})
            lost[label] = "%d/%d" % (len(holder.lost), len(holder.open))
            holder.close()
            if heal:
                heal(m)
                wait(m.healthy, 20, m.name + " healthy again")
                wait(lambda: m.vrrp_state() == "BACKUP", 20, m.name + " a BACKUP again")
            new = master()
            assert new is not m
            return m

        # (a) the MASTER's k3lb is killed; it is started again afterwards
        measure("a: k3lb killed", lambda m: m.k3lb.proc.kill(),
                lambda m: (m.k3lb.proc.wait(), m.start_k3lb()))
        # (b) the MASTER loses every backend
        measure("b: backends lost", lambda m: lab.set_link(m.name, "eth1", False),
                lambda m: lab.set_link(m.name, "eth1", True))
        # (e) the MASTER's k3lb hangs (SIGSTOP): the check times out
        measure("e: k3lb stopped", lambda m: m.k3lb.signal(signal.SIGSTOP),
                lambda m: m.k3lb.signal(signal.SIGCONT))
        # (f) the MASTER's k3lb is stopped gracefully: it says so and still accepts for
        # stop_delay while keepalived moves the address
        def graceful_done(m):
            assert m.k3lb.wait() == 0, m.k3lb.log()
            m.start_k3lb()
        measure("f: graceful stop", lambda m: m.k3lb.signal(signal.SIGTERM), graceful_done)
        # (c) the MASTER's link goes down
        old = measure("c: link down", lambda m: lab.set_link(m.name, "eth0", False))
        # (d) it comes back: the VIP stays where it is (nopreempt), never on both
        t0 = time.monotonic()
        lab.set_link(old.name, "eth0", True)
        wait(old.healthy, 20, old.name + " healthy after its link came back")
        holder = master()
        deadline = time.monotonic() + 5  # several advert intervals: a flap would show
        while time.monotonic() < deadline:
            assert master() is holder
            time.sleep(0.1)
        events = probe.after(t0)
        times["d: link back"] = outage(events, t0)
        assert len(events) > 50
        assert holder is not old
        probe.proc.kill()
        with capsys.disabled():
            print("\nVIP failover through keepalived (advert 1 s, check every 1 s):")
            for label, (secs, fails) in times.items():
                print("  %-16s %.2f s until new connections succeed, %d attempts failed%s"
                      % (label, secs, fails, ", long-lived lost %s (%s)" % (
                          lost[label], ", ".join(why[label])) if label in lost else ""))
        assert times["d: link back"] == (0.0, 0)
        for label in ("a: k3lb killed", "b: backends lost", "e: k3lb stopped"):
            assert times[label][0] <= GOAL_S, (label, times[label])
        # a graceful stop refuses no one (stop_delay): what fails is VRRP's own gap, the
        # peer's skew between the master leaving FAULT with the address and the peer taking it
        assert "Connection_refused" not in why["f: graceful stop"], why
        assert times["f: graceful stop"][0] <= GOAL_S, times["f: graceful stop"]
        # the peer must first miss three adverts: 3 x 1 s + skew ((256 - 100) / 256 s)
        assert times["c: link down"][0] <= 3 + 156 / 256 + 0.5, times["c: link down"]
    except BaseException:
        for n in nodes.values():
            print("---- keepalived on %s:\n%s\n---- k3lb on %s:\n%s"
                  % (n.name, n.log()[-4000:], n.name, n.k3lb.log()[-2000:]))
        raise
    finally:
        for n in nodes.values():
            n.close()
