"""A real Patroni cluster on loopback (Debian's patroni and postgresql): one etcd member as its
store, and PostgreSQL nodes managed by Patroni, each with its REST API (GET /primary answers 200
on the leader only). Synchronous replication, so a commit acknowledged by the primary is on the
replica too, and a failover loses none. Run as the postgres user: PostgreSQL refuses root."""
import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request

from contrib.lab.databases import _owned_tmpdir, _user_kw, _wait_port
from contrib.lab.net import free_port, wait_until

BINDIR = "/usr/lib/postgresql/15/bin"


class Node:
    def __init__(self, name, cluster):
        self.name, self.cluster = name, cluster
        self.pg_port, self.rest_port = free_port(), free_port()
        self.dir = os.path.join(cluster.dir, name)
        self.proc = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.pg_port

    def config(self):
        c = self.cluster
        return {
            "scope": c.scope, "name": self.name,
            "restapi": {"listen": "127.0.0.1:%d" % self.rest_port,
                        "connect_address": "127.0.0.1:%d" % self.rest_port},
            "etcd3": {"hosts": "127.0.0.1:%d" % c.etcd_port},
            "bootstrap": {
                "dcs": {"ttl": 10, "loop_wait": 1, "retry_timeout": 4,
                        "maximum_lag_on_failover": 1048576, "synchronous_mode": True,
                        "postgresql": {"use_pg_rewind": True,
                                       "parameters": {"wal_log_hints": "on", "fsync": "off"}}},
                "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
                "pg_hba": ["local all all trust", "host all all 127.0.0.1/32 trust",
                           "host replication all 127.0.0.1/32 trust"]},
            "postgresql": {
                "listen": "127.0.0.1:%d" % self.pg_port,
                "connect_address": "127.0.0.1:%d" % self.pg_port,
                "data_dir": os.path.join(self.dir, "data"), "bin_dir": BINDIR,
                "pgpass": os.path.join(self.dir, "pgpass"),
                "authentication": {"superuser": {"username": "postgres", "password": "lab"},
                                   "replication": {"username": "postgres", "password": "lab"},
                                   "rewind": {"username": "postgres", "password": "lab"}},
                "parameters": {"unix_socket_directories": self.dir}},
            "tags": {"nofailover": False, "noloadbalance": False},
        }

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        path = os.path.join(self.dir, "patroni.yml")
        with open(path, "w") as f:
            json.dump(self.config(), f)  # JSON is YAML
        self.log = open(os.path.join(self.dir, "patroni.log"), "w")
        # its own session: kill() takes Patroni and the PostgreSQL it started together
        self.proc = subprocess.Popen(["patroni", path], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     **_user_kw("postgres"))
        self.conf = path
        return self

    def role(self):
        """"primary", "replica" or None (no answer), from the REST API."""
        for role in ("primary", "replica"):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/%s" % (self.rest_port, role),
                                            timeout=1) as r:
                    if r.status == 200:
                        return role
            except (urllib.error.URLError, OSError):
                continue
        return None

    def _pids(self):
        """Patroni, the postmaster and every child of it (a backend outlives a killed
        postmaster for a moment, and could still commit)."""
        pids = [self.proc.pid] if self.proc and self.proc.poll() is None else []
        try:
            with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
                pm = int(f.readline())
        except (OSError, ValueError):
            return pids
        children = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True)
        return pids + [pm] + [int(p) for p in children.stdout.split()]

    def kill(self):
        """The machine dies: Patroni and all of its PostgreSQL at one instant (frozen first,
        so that none of them acts while the others are killed)."""
        pids = self._pids()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        if self.proc:
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.kill()


class PatroniCluster:
    def __init__(self, n=2, scope="k3lb-lab"):
        self.scope = scope
        self.dir = _owned_tmpdir("postgres", "k3lb-patroni-")
        self.etcd_port, self.etcd_peer = free_port(), free_port()
        self.etcd = None
        self.nodes = [Node("pg%d" % i, self) for i in range(n)]

    def start(self, timeout=90):
        edir = os.path.join(self.dir, "etcd")
        self.etcd_log = open(os.path.join(self.dir, "etcd.log"), "w")
        self.etcd = subprocess.Popen(
            ["etcd", "--name", "dcs", "--data-dir", edir,
             "--listen-client-urls", "http://127.0.0.1:%d" % self.etcd_port,
             "--advertise-client-urls", "http://127.0.0.1:%d" % self.etcd_port,
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.etcd_peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.etcd_peer,
             "--initial-cluster", "dcs=http://127.0.0.1:%d" % self.etcd_peer],
            stdout=self.etcd_log, stderr=subprocess.STDOUT)
        _wait_port(self.etcd_port, self.etcd, "etcd")
        self.nodes[0].start()
        self.wait(lambda: self.nodes[0].role() == "primary", timeout, "a bootstrapped primary")
        for n in self.nodes[1:]:
            n.start()
        self.wait(lambda: all(n.role() == "replica" for n in self.nodes[1:]), timeout,
                  "replicas streaming")
        self.wait(lambda: self.sync_standby() is not None, timeout, "a synchronous standby")
        return self

    def leader(self):
        for n in self.nodes:
            if n.role() == "primary":
                return n
        return None

    def sync_standby(self):
        """The name of the synchronous standby, from the leader's /cluster, or None."""
        for n in self.nodes:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/cluster" % n.rest_port,
                                            timeout=1) as r:
                    members = json.load(r)["members"]
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                continue
            for m in members:
                if m.get("role") == "sync_standby" and m.get("state") in ("streaming",
                                                                           "running"):
                    return m["name"]
        return None

    def patronictl(self, *args):
        return subprocess.run(["patronictl", "-c", self.nodes[0].conf, *args],
                              capture_output=True, text=True, timeout=60,
                              **_user_kw("postgres"))

    wait = staticmethod(wait_until)

    def logs(self):
        out = []
        for n in self.nodes:
            try:
                with open(os.path.join(n.dir, "patroni.log")) as f:
                    out.append("---- %s:\n%s" % (n.name, f.read()[-3000:]))
            except OSError:
                pass
        return "\n".join(out)

    def close(self):
        for n in self.nodes:
            n.stop()
        if self.etcd and self.etcd.poll() is None:
            self.etcd.kill()
            self.etcd.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
