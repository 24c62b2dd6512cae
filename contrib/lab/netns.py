"""Hosts in network namespaces that the caller creates and removes: several machines on one
kernel, joined by bridges, with links to take down and addresses that exist only inside the
namespaces. Used by the tests that need a real network between real processes (a virtual IP
moved by keepalived, partitions); never touches the host's own interfaces.

Every name carries a per-run prefix, so two runs (or a crashed earlier one) never collide;
close() deletes every namespace made, which also removes their links and bridges."""
import os
import subprocess
import sys


def sh(*args, check=True):
    """One iproute2 (or other) command; its stderr in the exception when it fails."""
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


# Run in a namespace by `ip netns exec`: binds host:port there, then becomes argv with "{fd}"
# replaced by the listening socket's number. The socket listens before argv even starts, so a
# client never races its readiness.
_BIND_EXEC = """
import os, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host.strip("[]"), int(port)))
s.listen(128)
s.set_inheritable(True)
argv = [a.replace("{fd}", str(s.fileno())) for a in sys.argv[2:]]
os.execv(argv[0], argv)
"""


class Lab:
    """Namespaces named <prefix><host>; bridges live in a namespace of their own ("sw"), so
    every host's link has a peer whose carrier the test can cut from either side."""

    def __init__(self, prefix=None):
        self.prefix = prefix or "k3lb%d-" % os.getpid()
        self.made = []
        self.procs = []
        self.sw = self.host("sw")

    def ns(self, host):
        return self.prefix + host

    def host(self, name):
        ns = self.ns(name)
        sh("ip", "netns", "add", ns)
        self.made.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def bridge(self, name):
        sh("ip", "-n", self.sw, "link", "add", name, "type", "bridge")
        # Forward at once: a new port of a bridge otherwise learns for its forward delay.
        sh("ip", "-n", self.sw, "link", "set", name, "type", "bridge", "forward_delay", "0")
        sh("ip", "-n", self.sw, "link", "set", name, "up")

    def link(self, host, ifname, bridge, address):
        """A veth from host (as ifname, with address "a.b.c.d/len") to a bridge port."""
        port = "%s-%s" % (host[:6], ifname[:6])
        sh("ip", "link", "add", ifname, "netns", self.ns(host), "type", "veth", "peer", "name",
           port, "netns", self.sw)
        sh("ip", "-n", self.sw, "link", "set", port, "master", bridge, "up")
        sh("ip", "-n", self.ns(host), "addr", "add", address, "dev", ifname)
        sh("ip", "-n", self.ns(host), "link", "set", ifname, "up")

    def set_link(self, host, ifname, up):
        sh("ip", "-n", self.ns(host), "link", "set", ifname, "up" if up else "down")

    def addresses(self, host, ifname):
        out = sh("ip", "-n", self.ns(host), "-o", "-4", "addr", "show", "dev", ifname)
        return [line.split()[3] for line in out.splitlines()]

    def cmd(self, host, *argv):
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def popen(self, host, argv, bind=None, **kw):
        """A process in host; with bind="addr:port" it inherits a listening socket there and
        argv's "{fd}" names it."""
        if bind:
            argv = [sys.executable, "-c", _BIND_EXEC, bind, *argv]
        p = subprocess.Popen(self.cmd(host, *argv), **kw)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for ns in reversed(self.made):
            for pid in sh("ip", "netns", "pids", ns, check=False).split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
