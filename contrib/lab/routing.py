"""Real routing daemons inside the lab's network namespaces: FRR (zebra, bgpd and bfdd of
Debian's frr, one instance per namespace through FRR's own pathspace, -N) and BIRD 2 (Debian's
bird2, one process per namespace with its own control socket). They read the configs given,
such as the shipped deploy/bgp/ recipes with this lab's addresses."""
import os
import re
import shutil
import subprocess
import threading
import time

FRR_DAEMONS = ("zebra", "bfdd", "bgpd")
FRR_LIB = "/usr/lib/frr"
RUN = "/var/run/frr"


def available():
    """Why the daemons cannot run here, or None."""
    if not os.path.exists(os.path.join(FRR_LIB, "bgpd")):
        return "FRR (Debian's frr) is not installed"
    if not shutil.which("bird"):
        return "BIRD 2 (Debian's bird2) is not installed"
    return None


class Frr:
    """FRR as Debian's frrinit starts it with an integrated frr.conf: every daemon with the
    config's defaults profile (-F, from its "frr defaults" line) and no config of its own, then
    vtysh sends each command of frr.conf to the daemon it belongs to. (A daemon given the whole
    file with -f loses its place at the first section it does not know and skips what follows:
    bfdd would never see its profiles.)"""

    def __init__(self, lab, host, config, logs=None):
        """logs: a directory the daemons' logs are copied to when they stop."""
        self.lab, self.host, self.ns, self.logs = lab, host, lab.ns(host), logs
        # FRR's pathspace: the daemons drop to user frr, which must reach every file, so
        # they all live in the namespace's own /var/run/frr/<ns>/ (not the caller's workdir)
        self.dir = run = os.path.join(RUN, self.ns)
        shutil.rmtree(run, ignore_errors=True)
        os.makedirs(run)
        self.conf = os.path.join(run, "frr.conf")
        empty = os.path.join(run, "empty.conf")
        with open(self.conf, "w") as f:
            f.write(config)
        open(empty, "w").close()
        for p in (RUN, run, self.conf, empty):
            shutil.chown(p, "frr", "frr")
        profile = re.search(r"^frr defaults (\S+)", config, re.M)
        self.procs = []
        for d in FRR_DAEMONS:
            log = open(os.path.join(self.dir, d + ".out"), "w")
            self.procs.append(lab.popen(host, [
                os.path.join(FRR_LIB, d), "-N", self.ns, "-f", empty, "-i",
                os.path.join(self.dir, d + ".pid"), "-u", "frr", "-g", "frr", "--log",
                "file:" + os.path.join(self.dir, d + ".log"),
                *(["-F", profile.group(1)] if profile else [])], stdout=log, stderr=log))
            self._wait_socket(os.path.join(run, "zserv.api" if d == "zebra" else d + ".vty"))
        applied = subprocess.run(self.lab.cmd(host, "vtysh", "-N", self.ns, "-f", self.conf),
                                 capture_output=True, text=True, timeout=30)
        if applied.returncode != 0:
            raise RuntimeError("%s: vtysh -f %s: %s%s" % (host, self.conf, applied.stdout,
                                                        applied.stderr))

    def _wait_socket(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise RuntimeError("%s: %s did not appear: %s" % (self.host, path, self.log()))
            time.sleep(0.02)

    def vtysh(self, *commands):
        argv = ["vtysh", "-N", self.ns]
        for c in commands:
            argv += ["-c", c]
        return subprocess.run(self.lab.cmd(self.host, *argv), capture_output=True, text=True,
                              timeout=20).stdout

    def log(self):
        out = []
        for d in FRR_DAEMONS:
            for ext in (".out", ".log"):
                p = os.path.join(self.dir, d + ext)
                if os.path.exists(p):
                    out.append(open(p).read()[-2000:])
        return "\n".join(out)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self.logs:
            dst = os.path.join(self.logs, "frr-" + self.host)
            os.makedirs(dst, exist_ok=True)
            for d in FRR_DAEMONS:
                for ext in (".out", ".log"):
                    if os.path.exists(os.path.join(self.dir, d + ext)):
                        shutil.copy(os.path.join(self.dir, d + ext), dst)
        shutil.rmtree(self.dir, ignore_errors=True)


class Bird:
    def __init__(self, lab, host, workdir, config):
        self.lab, self.host = lab, host
        self.dir = os.path.join(workdir, "bird-" + host)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "bird.conf")
        self.sock = os.path.join(self.dir, "bird.ctl")
        with open(self.conf, "w") as f:
            f.write(config)
        self.out = open(os.path.join(self.dir, "bird.out"), "w")
        self.proc = lab.popen(host, ["bird", "-f", "-c", self.conf, "-s", self.sock],
                              stdout=self.out, stderr=self.out)

    def birdc(self, *words):
        return subprocess.run(self.lab.cmd(self.host, "birdc", "-s", self.sock, *words),
                              capture_output=True, text=True, timeout=20).stdout

    def log(self):
        return open(os.path.join(self.dir, "bird.out")).read()[-2000:]

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ResilientFib:
    """A router's forwarding with resilient ECMP (what datacenter switches call resilient
    hashing): the kernel's resilient nexthop groups, where a path that leaves gives only its own
    buckets to the others and a path that joins takes only idle ones, so the flows on the other
    paths stay where they are. FRR 8.4's zebra installs plain multipath routes (hash-threshold:
    a change of the path set moves flows between the remaining paths too), so this follows the
    route zebra installs for prefix (ip monitor) and keeps a resilient group with the same
    nexthops in a table of its own that a rule puts first."""

    TABLE, RULE_PRIO, GROUP = 100, 100, 100

    def __init__(self, lab, host, prefix, dev, buckets=128, idle_s=2):
        self.lab, self.ns, self.prefix, self.dev = lab, lab.ns(host), prefix, dev
        self.buckets, self.idle_s = buckets, idle_s
        self.ids, self.group = {}, []
        self.history = []  # (CLOCK_MONOTONIC, nexthops) at each change
        self.lock = threading.Lock()
        self._ip("rule", "add", "to", prefix, "lookup", str(self.TABLE), "priority",
                 str(self.RULE_PRIO))
        self.monitor = subprocess.Popen(["ip", "-n", self.ns, "monitor", "route"],
                                        stdout=subprocess.PIPE, text=True)
        self.sync()
        threading.Thread(target=self._follow, daemon=True).start()

    def _ip(self, *args, check=True):
        return subprocess.run(["ip", "-n", self.ns, *args], capture_output=True, text=True,
                              timeout=10, check=check).stdout

    def _follow(self):
        for _ in self.monitor.stdout:
            self.sync()

    def sync(self):
        with self.lock:
            out = self._ip("route", "show", self.prefix, "proto", "bgp")
            hops = sorted(set(re.findall(r"via (\S+)", out)))
            for h in hops:
                if h not in self.ids:
                    self.ids[h] = 1000 + len(self.ids)
                    self._ip("nexthop", "replace", "id", str(self.ids[h]), "via", h, "dev",
                             self.dev)
            if hops == self.group:
                return  # (nothing yet at the start: no group to remove)
            if not hops:  # (gone already when the router's own link went)
                self._ip("route", "del", self.prefix, "table", str(self.TABLE), check=False)
                self._ip("nexthop", "del", "id", str(self.GROUP), check=False)
            else:
                self._ip("nexthop", "replace", "id", str(self.GROUP), "group",
                         "/".join(str(self.ids[h]) for h in hops), "type", "resilient",
                         "buckets", str(self.buckets), "idle_timer", str(self.idle_s))
                self._ip("route", "replace", self.prefix, "nhid", str(self.GROUP), "table",
                         str(self.TABLE))
            self.group = hops
            self.history.append((time.monotonic(), hops))

    def close(self):
        self.monitor.kill()
        self.monitor.wait()
