"""Real routing daemons inside the lab's network namespaces: FRR (zebra, bgpd and bfdd of
Debian's frr, one instance per namespace through FRR's own pathspace, -N) and BIRD 2 (Debian's
bird2, one process per namespace with its own control socket). They read the configs given,
such as the shipped deploy/bgp/ recipes with this lab's addresses."""
import os
import shutil
import subprocess
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
    def __init__(self, lab, host, config, logs=None):
        """logs: a directory the daemons' logs are copied to when they stop."""
        self.lab, self.host, self.ns, self.logs = lab, host, lab.ns(host), logs
        # FRR's pathspace: the daemons drop to user frr, which must reach every file, so
        # they all live in the namespace's own /var/run/frr/<ns>/ (not the caller's workdir)
        self.dir = run = os.path.join(RUN, self.ns)
        shutil.rmtree(run, ignore_errors=True)
        os.makedirs(run)
        self.conf = os.path.join(run, "frr.conf")
        with open(self.conf, "w") as f:
            f.write(config)
        for p in (RUN, run, self.conf):
            shutil.chown(p, "frr", "frr")
        self.procs = []
        for d in FRR_DAEMONS:
            log = open(os.path.join(self.dir, d + ".out"), "w")
            self.procs.append(lab.popen(host, [
                os.path.join(FRR_LIB, d), "-N", self.ns, "-f", self.conf, "-i",
                os.path.join(self.dir, d + ".pid"), "-u", "frr", "-g", "frr", "--log",
                "file:" + os.path.join(self.dir, d + ".log")], stdout=log, stderr=log))
            if d == "zebra":  # the others talk to it
                self._wait_socket(os.path.join(run, "zserv.api"))

    def _wait_socket(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise RuntimeError("%s: zebra did not start: %s" % (self.host, self.log()))
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
