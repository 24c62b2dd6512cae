"""announce: the anycast addresses k3lb holds on its own interface for the host's routing daemon
to export (test_bgp.py runs real FRR and BIRD on them). Here, in one network namespace of the
test's, what the routing daemon would see: the addresses and their lifetime on the interface,
the local routes that keep accepting while routers learn of a withdrawal, and when each
changes: the frontend's servers gone and back, a hung k3lb (SIGSTOP), a stop, a kill, an
upgrade; and the config k3lb refuses."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from k3lbtest import BIN, TOOLS, K3lb, stop_pid

from contrib.lab.netns import Lab, sh  # noqa: E402

V4, V6 = "10.200.0.100", "fd00::100"
IFACE = "k3lb-announce"
LIFETIME_S = 1

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def config(admin, stop_delay="2s"):
    return ("admin: {listen: \"unix:%s\"}\nstop_delay: %s\n"
            "announce: {addresses: [\"%s/32\", \"%s/128\"], frontends: [api], lifetime: %ds}\n"
            "frontends:\n"
            "  - {name: api, listen: [\"%s:6443\", \"[%s]:6443\"], backend: s, freebind: true}\n"
            "backends:\n  - name: s\n    servers: [\"127.0.0.1:7001\", \"127.0.0.1:7002\"]\n"
            "    health: {kind: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 1,\n"
            "             down_interval: 200ms}\n"
            % (admin, stop_delay, V4, V6, LIFETIME_S, V4, V6))


class Node:
    """k3lb and its two servers in a namespace of their own."""

    def __init__(self, tmp_path, stop_delay="2s"):
        self.lab = Lab()
        self.ns = self.lab.host("lb")
        self.backends = {}
        for port in (7001, 7002):
            self.start_backend(port)
        self.k = K3lb(str(tmp_path))
        self.k.admin_unix = str(tmp_path / "admin.sock")
        self.k.start(config(self.k.admin_unix, stop_delay), wrap=self.lab.cmd("lb"))

    def start_backend(self, port):
        self.backends[port] = self.lab.popen(
            "lb", [sys.executable, os.path.join(TOOLS, "backend.py"), "--fd", "{fd}", "--mode",
                   "name", "--name", "be%d" % port], bind="127.0.0.1:%d" % port,
            stdout=subprocess.DEVNULL)

    def stop_backends(self):
        for p in self.backends.values():
            p.kill()
            p.wait()

    def addresses(self):
        """{address: valid lifetime in seconds} on the interface; None without the interface."""
        r = subprocess.run(["ip", "-n", self.ns, "-o", "addr", "show", "dev", IFACE, "scope",
                            "global"], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r"inet6? ([0-9a-f.:]+)/\d+ .*?valid_lft (\d+)sec", r.stdout)}

    def local_routes(self):
        """The addresses with k3lb's own local route (proto static in table local)."""
        out = sh("ip", "-n", self.ns, "route", "show", "table", "local", "proto", "static") + \
            sh("ip", "-n", self.ns, "-6", "route", "show", "table", "local", "proto", "static")
        return {line.split()[1] for line in out.splitlines() if IFACE in line}

    def ask(self, host):
        """A connection to host:6443 from inside the namespace: the first line, or why not."""
        code = ("import socket,sys\n"
                "try:\n"
                "    s = socket.create_connection((sys.argv[1], 6443), timeout=2)\n"
                "    s.settimeout(2)\n"
                "    print('ok', s.recv(64).decode().strip() or 'closed')\n"
                "except OSError as e:\n"
                "    print('fail', e)\n")
        return subprocess.run(self.lab.cmd("lb", sys.executable, "-c", code, host),
                              capture_output=True, text=True, timeout=10).stdout.strip()

    def announce(self):
        return self.k.status()["announce"]

    def close(self):
        try:
            if self.k.proc.poll() is None:
                self.k.signal(signal.SIGCONT)
            self.k.close()
        finally:
            self.lab.close()


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path)
    yield n
    n.close()


def until(predicate, timeout, what):
    """Polls state the kernel changes on its own clock (an address's lifetime)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def test_announced_while_the_frontend_has_servers(node):
    a = node.k.wait_for(lambda st: st["announce"]["announced"], what="announced")["announce"]
    assert a["interface"] == IFACE and a["addresses"] == [V4 + "/32", V6 + "/128"]
    assert a["reason"].startswith("ok: api 2/2 servers usable"), a
    on = node.addresses()
    assert set(on) == {V4, V6} and all(0 <= v <= LIFETIME_S for v in on.values()), on
    assert node.local_routes() == {V4, V6}
    assert node.ask(V4).startswith("ok be") and node.ask(V6).startswith("ok be")
    metrics = node.k.http("GET", "/metrics")[1].decode()
    assert 'k3lb_announce_announced{address="%s/32"} 1' % V4 in metrics

    # every server gone: withdrawn, and the local routes still take what routers send meanwhile
    node.stop_backends()
    a = node.k.wait_for(lambda st: not st["announce"]["announced"], what="withdrawn")["announce"]
    assert "api" in a["reason"] and "no usable server" in a["reason"], a
    assert node.addresses() == {}
    assert node.local_routes() == {V4, V6}
    assert node.ask(V4) == "ok closed"  # accepted (no server to give it to), not unreachable
    assert "withdrew %s/32, %s/128 from %s" % (V4, V6, IFACE) in node.k.log()
    metrics = node.k.http("GET", "/metrics")[1].decode()
    assert 'k3lb_announce_announced{address="%s/32"} 0' % V4 in metrics

    node.start_backend(7001)
    a = node.k.wait_for(lambda st: st["announce"]["announced"], what="announced again")
    assert a["announce"]["changes"] == 3 and set(node.addresses()) == {V4, V6}
    assert "k3lb_announce_changes_total 3" in node.k.http("GET", "/metrics")[1].decode()


def test_a_hung_k3lb_loses_its_addresses_within_their_lifetime(node):
    node.k.wait_for(lambda st: st["announce"]["announced"], what="announced")
    node.k.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    until(lambda: node.addresses() == {}, LIFETIME_S + 2, "the addresses to expire")
    took = time.monotonic() - t0
    assert took <= LIFETIME_S + 1.0, took  # the kernel counts lifetimes in whole seconds
    node.k.signal(signal.SIGCONT)
    until(lambda: set(node.addresses() or ()) == {V4, V6}, 2, "the addresses back")
    # the kernel took the local routes with the last address: they are back too
    until(lambda: node.local_routes() == {V4, V6}, 2, "the local routes back")


def test_a_stop_withdraws_first_and_still_accepts(tmp_path):
    n = Node(tmp_path, stop_delay="3s")
    try:
        n.k.wait_for(lambda st: st["announce"]["announced"], what="announced")
        n.k.signal(signal.SIGTERM)
        until(lambda: n.addresses() == {}, 2, "the withdrawal")
        assert n.k.proc.poll() is None
        assert n.ask(V4).startswith("ok be")  # routers that have not heard yet still land
        assert n.k.wait(20) == 0
        assert n.addresses() is None  # the interface went with k3lb
        log = n.k.log()
        assert log.index("withdrew") < log.index("stopping"), log
    finally:
        n.close()


def test_a_killed_k3lb_takes_its_interface_along(node):
    node.k.wait_for(lambda st: st["announce"]["announced"], what="announced")
    node.k.proc.kill()
    node.k.proc.wait()
    assert node.addresses() is None
    assert node.local_routes() == set()


def test_an_upgrade_keeps_the_addresses_on(node):
    """SIGUSR2: the successor takes the interface over; the addresses never leave it."""
    node.k.wait_for(lambda st: st["announce"]["announced"], what="announced")
    old = node.k.proc.pid
    node.k.signal(signal.SIGUSR2)
    msg = node.k.wait_notify("READY=1")
    new = int([x for x in msg.split("\n") if x.startswith("MAINPID=")][0][8:])
    assert new != old
    deadline = time.monotonic() + 3 * LIFETIME_S  # past every lifetime the old one set
    while time.monotonic() < deadline:
        assert set(node.addresses() or ()) == {V4, V6}
        time.sleep(0.05)
    assert node.k.status()["pid"] == new and node.announce()["announced"]
    assert node.k.wait(20) == 0  # the old process left without taking them off
    assert set(node.addresses()) == {V4, V6}
    stop_pid(new)
    assert node.addresses() is None


@pytest.mark.parametrize("extra, error", [
    ("announce: {addresses: [\"10.0.0.100/32\"], frontends: [nope]}\n",
     r":\d+:\d+: announce: frontend 'nope' is not defined"),
    ("user: k3lb\nannounce: {addresses: [\"10.0.0.100/32\"]}\n",
     r":1:7: .*needs CAP_NET_ADMIN after start too"),
    ("announce: {addresses: [\"10.0.0.100/32\"], lifetime: 500ms}\n",
     r":\d+:\d+: .*lifetime"),
    ("announce: {addresses: [\"10.0.0.300/32\"]}\n", r":\d+:\d+: .*10\.0\.0\.300"),
    ("announce: {addresses: [\"10.0.0.0/24\"]}\n", r":1:23: .*one host: /24 is a network"),
    ("announce: {addresses: [\"fd00::/64\"]}\n", r":1:23: .*/64 is a network; give /128"),
])
def test_bad_announce_config_is_refused(tmp_path, extra, error):
    path = tmp_path / "k3lb.yaml"
    path.write_text(extra + "frontends:\n  - {name: api, listen: [\"127.0.0.1:6443\"], backend: s}\n"
                    "backends:\n  - {name: s, servers: [\"127.0.0.1:7001\"]}\n")
    r = subprocess.run([BIN, "check", "-c", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(re.escape(str(path)) + error, r.stderr), r.stderr
