#!/usr/bin/env python3
"""Benchmark: does a balancer's health check tell the truth about a K3s server? For each case,
the same stand-ins (contrib/lab/apiserver.py: K3s's and kube-apiserver's rules, each server on
its own member of a real etcd cluster) behind k3lb as it is, k3lb as it was (--before, a
binary built from an older commit: its k3s check without the API server's readiness), and
HAProxy with the K3s documentation's recipe (option tcp-check, inter 10s, downinter 5s):

  custom CA     /cacerts is a custom root and an intermediate; the token's hash is K3s's
  agent token   the servers run with --agent-token, the balancer is given the server token
  datastore cut one server's etcd member hangs (SIGSTOP): its /v1-k3s/readyz stays 200
  shutdown      one API server is told to stop (SIGTERM, --shutdown-delay-duration 5 s)
  join          RKE2 layout (9345 + 6443 + 2379 on three loopback hosts): one host's etcd
                member hangs; is that host's 9345 still handed registrations?

Each row says when the affected server left the balancer's pool (or that it never did within
the observation window, or was never in it), and what clients saw meanwhile (kubectl through
the balancer, one run after another). k3lb: interval 1s, timeout 1s, fall 3, rise 2. Not a
test: prints a Markdown table, asserts nothing.
"""
import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../integration"))
sys.path.insert(0, os.path.join(HERE, "../.."))
import k3lbtest  # noqa: E402
from contrib.lab.etcd_cluster import EtcdCluster  # noqa: E402
from contrib.lab.pki import Pki  # noqa: E402
from k3lbtest import ApiServer, K3lb, KubectlLoop, free_port  # noqa: E402

WINDOW = 20.0  # seconds a fault is watched
CHECK = "interval: 1s, timeout: 1s, fall: 3, rise: 2"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Balancer:
    """One of: k3lb (now), k3lb (before), HAProxy; started on one frontend port with the
    servers; up(addr) says whether it would send a new connection there."""

    def __init__(self, kind, work, servers, check, port, binary=None):
        self.kind, self.port, self.servers = kind, port, servers
        if kind == "haproxy":
            self.sock = os.path.join(work, "haproxy-%d.sock" % port)
            cfg = os.path.join(work, "haproxy-%d.cfg" % port)
            with open(cfg, "w") as f:
                f.write("global\n    stats socket %s level admin\ndefaults\n    mode tcp\n"
                        "    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n"
                        "frontend k3s-frontend\n    bind 127.0.0.1:%d\n"
                        "    default_backend k3s-backend\nbackend k3s-backend\n"
                        "    option tcp-check\n    balance roundrobin\n"
                        "    default-server inter 10s downinter 5s\n" % (self.sock, port))
                for i, s in enumerate(servers):
                    f.write("    server server-%d %s check\n" % (i, s))
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", cfg],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while not os.path.exists(self.sock) and time.monotonic() < deadline:
                time.sleep(0.05)
            return
        k3lbtest.BIN = binary
        self.k = K3lb(work)
        self.k.admin_port = free_port()
        self.k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n  - {name: k3s, listen: "
                     "[\"127.0.0.1:%d\"], backend: k3s}\nbackends:\n  - name: k3s\n"
                     "    servers: [%s]\n    health: {kind: k3s, %s, %s}\n%s"
                     % (self.k.admin_port, port, ", ".join('"%s"' % s for s in servers),
                        CHECK, check.get("health", ""), check.get("more", "")))

    def state(self):
        """{address: up?} as the balancer sees it now."""
        if self.kind == "haproxy":
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(self.sock)
                s.sendall(b"show stat\n")
                data = k3lbtest.read_all(s).decode()
            rows = [l.split(",") for l in data.splitlines() if l.startswith("k3s-backend,server-")]
            return {self.servers[int(r[1].split("-")[1])]: r[17].startswith("UP") for r in rows}
        st = self.k.status()
        return {s["address"]: s["state"] == "up" for s in st["backends"][0]["servers"]}

    def up(self, addr):
        return self.state()[addr]

    def detail(self, addr):
        if self.kind == "haproxy":
            return "tcp-check"
        for s in self.k.status()["backends"][0]["servers"]:
            if s["address"] == addr:
                return s["check"]["detail"]
        return ""

    def close(self):
        if self.kind == "haproxy":
            self.proc.terminate()
            self.proc.wait(10)
        else:
            self.k.close()


def watch_out(bal, addr, t0):
    """Seconds from t0 until the balancer stops sending to addr, or None within WINDOW."""
    while time.monotonic() - t0 < WINDOW:
        if not bal.up(addr):
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def fmt_out(out):
    return "not within %.0f s" % WINDOW if out is None else "out after %.2f s" % out


def failed(runs):
    """"F of N failed" for KubectlLoop's runs."""
    return "%d of %d failed" % (sum(not r[1] for r in runs), len(runs))


class Lab:
    def __init__(self, work, args):
        self.work, self.args = work, args
        self.pki = Pki(os.path.join(work, "pki"))
        self.cert, self.key = self.pki.issue("server", ["IP:127.0.0.1", "IP:127.0.0.2",
                                                         "IP:127.0.0.3"])
        self.token = os.path.join(work, "token")
        with open(self.token, "w") as f:
            f.write("K10%s::server:pw\n" % sha256(open(self.pki.ca_crt, "rb").read()))
        self.sa = os.path.join(work, "sa")
        with open(self.sa, "w") as f:
            f.write("sa-token\n")

    def kinds(self):
        """The balancers compared: (name, start(servers, now, before))."""
        out = [("k3lb now", lambda srv, now, before: Balancer(
            "k3lb", self.work, srv, now, free_port(), self.args.k3lb))]
        if self.args.before:
            out.append(("k3lb before", lambda srv, now, before: Balancer(
                "k3lb", self.work, srv, before, free_port(), self.args.before)))
        out.append(("HAProxy (K3s docs)", lambda srv, now, before: Balancer(
            "haproxy", self.work, srv, {}, free_port())))
        return out

    def balancers(self, servers, now, before):
        """The balancers over the same servers, all started: (name, Balancer)."""
        return [(name, start(servers, now, before)) for name, start in self.kinds()]


def case_custom_ca(lab):
    root = Pki(os.path.join(lab.work, "root"), "custom-root")
    inter = Pki(os.path.join(lab.work, "inter"), "k3s-intermediate", parent=root)
    cert, key = inter.issue("server", ["IP:127.0.0.1"])
    bundle = os.path.join(lab.work, "cacerts.pem")
    with open(bundle, "wb") as f:
        f.write(open(inter.ca_crt, "rb").read() + open(root.ca_crt, "rb").read())
    token = os.path.join(lab.work, "token-ca")
    with open(token, "w") as f:
        f.write("K10%s::server:pw\n" % sha256(root.der()))
    s = ApiServer(lab.work, cert, key, ca=bundle, password="pw", name="ca")
    rows = []
    for name, b in lab.balancers([s.addr], {"health": "token_file: %s" % token},
                                 {"health": "token_file: %s" % token}):
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8 and not b.up(s.addr):
            time.sleep(0.05)
        time.sleep(3.5)  # three more checks: a verdict, not the initial state
        up = b.up(s.addr)
        rows.append((name, "in the pool" if up else "out of the pool: %s" % b.detail(s.addr)))
        b.close()
    s.close()
    return rows


def case_agent_token(lab):
    s = ApiServer(lab.work, lab.cert, lab.key, ca=lab.pki.ca_crt, password="pw",
                  agent_token="agentpw", name="at")
    rows = []
    for name, b in lab.balancers([s.addr], {"health": "token_file: %s" % lab.token},
                                 {"health": "token_file: %s" % lab.token}):
        time.sleep(4.5)
        up = b.up(s.addr)
        rows.append((name, ("in the pool" if up else "out of the pool: %s" % b.detail(s.addr))))
        b.close()
    s.close()
    return rows


def three_servers(lab, cluster, **kw):
    return [ApiServer(lab.work, lab.cert, lab.key, ca=lab.pki.ca_crt, password="pw",
                      name="s%d" % i, sa_tokens=["sa-token"], admin_tokens=["admin-token"],
                      datastore=("https://" + m.endpoint, lab.pki.ca_crt, cluster.client_crt,
                                 cluster.client_key), **kw)
            for i, m in enumerate(cluster.members)]


def leader(cluster):
    out = cluster.etcdctl([m.endpoint for m in cluster.members], "endpoint", "status", "-w",
                          "json").stdout
    st = json.loads(out)
    lid = st[0]["Status"]["leader"]
    return [m for m, x in zip(cluster.members, st) if x["Status"]["header"]["member_id"] == lid][0]


def one_at_a_time(lab, setup, now, before):
    """Each balancer alone before fresh servers (setup() -> (servers, the victim's address,
    the fault, undo)), the same fault at t0: when the victim left, and kubectl's outcomes from
    the fault until then and after."""
    rows = []
    for name, start in lab.kinds():
        made, victim, hit, close = setup()
        b = start([s.addr for s in made], now, before)
        time.sleep(3)  # checks settle (bounded)
        kc = KubectlLoop(lab.work, b.port, lab.pki.ca_crt, "admin-token", timeout="5s")
        time.sleep(2)  # traffic before the fault (bounded)
        t0 = time.monotonic()
        hit()
        out = watch_out(b, victim, t0)
        time.sleep(2 if out is not None else 0)
        runs = kc.finish()
        settled = t0 + (out if out is not None else WINDOW) + 0.5
        during = failed([r for r in runs if t0 <= r[0] < settled])
        if out is None:
            rows.append((name, "%s; kubectl %s" % (fmt_out(out), during)))
        else:
            rows.append((name, "%s; kubectl %s until then, %s after" % (
                fmt_out(out), during, failed([r for r in runs if r[0] >= settled]))))
        b.close()
        close()
    return rows


def case_datastore_cut(lab):
    now = {"health": "token_file: %s, apiserver: {bearer_token_file: %s}" % (lab.token, lab.sa)}
    before = {"health": "token_file: %s" % lab.token}
    n = [0]

    def setup():
        n[0] += 1
        cluster = EtcdCluster(os.path.join(lab.work, "etcd-cut-%d" % n[0]), lab.pki)
        os.makedirs(cluster.dir, exist_ok=True)
        cluster.start()
        made = three_servers(lab, cluster, readycheck_timeout=2.0)
        m = [x for x in cluster.members if x is not leader(cluster)][0]

        def close():
            m.cont()
            for s in made:
                s.close()
            cluster.close()
        return made, made[cluster.members.index(m)].addr, m.stop, close
    return one_at_a_time(lab, setup, now, before)


def case_shutdown(lab):
    now = {"health": "token_file: %s, apiserver: {bearer_token_file: %s}" % (lab.token, lab.sa)}
    before = {"health": "token_file: %s" % lab.token}
    n = [0]

    def setup():
        n[0] += 1
        made = [ApiServer(lab.work, lab.cert, lab.key, ca=lab.pki.ca_crt, password="pw",
                          name="d%d-%d" % (n[0], i), sa_tokens=["sa-token"],
                          admin_tokens=["admin-token"], shutdown_delay=5) for i in range(3)]

        def close():
            for s in made:
                s.close()
        return made, made[0].addr, lambda: made[0].proc.send_signal(signal.SIGTERM), close
    return one_at_a_time(lab, setup, now, before)


def case_join(lab):
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    cluster = EtcdCluster(os.path.join(lab.work, "etcd-join"), lab.pki, hosts=hosts)
    os.makedirs(cluster.dir, exist_ok=True)
    cluster.start()
    sup_port, api_port = free_port(), free_port()
    made = []
    for h, m in zip(hosts, cluster.members):
        ds = ("https://" + m.endpoint, lab.pki.ca_crt, cluster.client_crt, cluster.client_key)
        made.append(ApiServer(lab.work, lab.cert, lab.key, ca=lab.pki.ca_crt, password="pw",
                              host=h, port=sup_port, program="rke2", name="sup-" + h,
                              datastore=ds))
        made.append(ApiServer(lab.work, lab.cert, lab.key, ca=lab.pki.ca_crt, host=h,
                              port=api_port, api_only=True, name="api-" + h,
                              sa_tokens=["sa-token"], datastore=ds, readycheck_timeout=0.5))
    sups = ["%s:%d" % (h, sup_port) for h in hosts]
    now = {"health": "token_file: %s, path: /v1-rke2/readyz" % lab.token,
           "more": "    requires: [apiserver]\n  - name: apiserver\n    requires: [etcd]\n"
                   "    servers: [%s]\n    health: {kind: https, path: /readyz, tls: {ca: %s},"
                   " auth: {bearer_token_file: %s}, %s}\n  - name: etcd\n    servers: [%s]\n"
                   "    health: {kind: etcd, tls: {ca: %s, cert: %s, key: %s}, %s}\n"
                   % (", ".join('"%s:%d"' % (h, api_port) for h in hosts), lab.pki.ca_crt,
                      lab.sa, CHECK, ", ".join('"%s"' % m.endpoint for m in cluster.members),
                      lab.pki.ca_crt, cluster.client_crt, cluster.client_key, CHECK)}
    before = {"health": "token_file: %s, path: /v1-rke2/readyz" % lab.token}
    bals = lab.balancers(sups, now, before)
    time.sleep(4)
    victim_m = [m for m in cluster.members if m is not leader(cluster)][0]
    victim = "%s:%d" % (victim_m.host, sup_port)
    t0 = time.monotonic()
    victim_m.stop()
    rows = []
    outs = {}
    threads = [threading.Thread(target=lambda n=n, b=b: outs.__setitem__(
        n, watch_out(b, victim, t0))) for n, b in bals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, b in bals:
        rows.append((name, fmt_out(outs[name])))
        b.close()
    victim_m.cont()
    for s in made:
        s.close()
    cluster.close()
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--k3lb", default=os.path.join(HERE, "../../build/k3lb"))
    p.add_argument("--before", help="an older k3lb binary to compare")
    args = p.parse_args()
    cases = [("custom CA (root + intermediate)", case_custom_ca),
             ("agent token (server token given)", case_agent_token),
             ("datastore cut (etcd member hung)", case_datastore_cut),
             ("graceful shutdown (5 s delay)", case_shutdown),
             ("join readiness (RKE2 9345, etcd hung)", case_join)]
    results = {}
    with tempfile.TemporaryDirectory() as work:
        lab = Lab(work, args)
        for title, fn in cases:
            results[title] = dict(fn(lab))
            print("%s: %s" % (title, results[title]), file=sys.stderr, flush=True)
    cols = ["k3lb now"] + (["k3lb before"] if args.before else []) + ["HAProxy (K3s docs)"]
    print("| case | %s |" % " | ".join(cols))
    print("|---|%s" % ("---|" * len(cols)))
    for title, _ in cases:
        print("| %s | %s |" % (title, " | ".join(results[title].get(c, "-") for c in cols)))


if __name__ == "__main__":
    main()
