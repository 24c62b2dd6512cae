"""A real etcd cluster on loopback (Debian's etcd-server), with TLS for clients and peers and
client-certificate authentication."""
import os
import signal
import socket
import subprocess
import time

from contrib.lab.net import free_port


class Member:
    def __init__(self, name, client_port, peer_port, host="127.0.0.1"):
        self.name, self.client_port, self.peer_port = name, client_port, peer_port
        self.host = host
        self.proc = None

    @property
    def endpoint(self):
        return "%s:%d" % (self.host, self.client_port)

    @property
    def peer_url(self):
        return "https://%s:%d" % (self.host, self.peer_port)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self):
        self.proc.send_signal(signal.SIGCONT)


class EtcdCluster:
    def __init__(self, workdir, pki, size=3, hosts=None):
        """hosts: one loopback address per member (127.0.0.1, 127.0.0.2, ...: one per node of
        a lab cluster), all on 127.0.0.1 by default."""
        self.dir = workdir
        self.pki = pki
        hosts = hosts or ["127.0.0.1"] * size
        self.server_crt, self.server_key = pki.issue(
            "etcd-server", ["IP:127.0.0.1", "IP:::1", "DNS:localhost"] +
            ["IP:" + h for h in sorted(set(hosts) - {"127.0.0.1"})], client=True)
        self.client_crt, self.client_key = pki.issue("etcd-client", client=True, server=False)
        self.members = [Member("m%d" % i, free_port(h), free_port(h), h)
                        for i, h in enumerate(hosts)]

    def _args(self, m, cluster, state="new"):
        data = os.path.join(self.dir, "etcd-" + m.name)
        os.makedirs(data, mode=0o700, exist_ok=True)
        return ["etcd", "--name", m.name, "--data-dir", data,
                "--listen-client-urls", "https://" + m.endpoint,
                "--advertise-client-urls", "https://" + m.endpoint,
                "--listen-peer-urls", m.peer_url,
                "--initial-advertise-peer-urls", m.peer_url,
                "--initial-cluster", cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", "k3lb-lab",
                "--cert-file", self.server_crt, "--key-file", self.server_key,
                "--trusted-ca-file", self.pki.ca_crt, "--client-cert-auth",
                "--peer-cert-file", self.server_crt, "--peer-key-file", self.server_key,
                "--peer-trusted-ca-file", self.pki.ca_crt, "--peer-client-cert-auth",
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--log-level", "error"]

    def start(self, timeout=60):
        cluster = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)
        for m in self.members:
            log = open(os.path.join(self.dir, "etcd-%s.log" % m.name), "w")
            m.proc = subprocess.Popen(self._args(m, cluster), stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.members:
                if m.proc.poll() is not None:
                    raise RuntimeError("etcd %s exited: see %s" % (m.name, self.dir))
            r = self.etcdctl([m.endpoint for m in self.members], "endpoint", "health",
                             check=False, timeout=10)
            if r.returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError("etcd cluster not healthy within %ss" % timeout)

    def member_id(self, member, via):
        """The cluster's ID (hex) for member, asked through the endpoint via."""
        out = self.etcdctl([via.endpoint], "member", "list", "-w", "json").stdout
        import json
        for m in json.loads(out)["members"]:
            if m.get("name") == member.name or \
                    member.peer_url in m.get("peerURLs", []):
                return "%x" % m["ID"]
        raise KeyError(member.name)

    def _reconfigure(self, via, timeout, *args):
        """etcdctl member ...; etcd refuses a reconfiguration until every member has been
        connected for a few seconds ("unhealthy cluster"), e.g. right after a start or another
        reconfiguration: retried until then."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.etcdctl([via.endpoint], "member", *args, check=False)
            if r.returncode == 0:
                return
            if "already exists" in r.stderr or "member not found" in r.stderr:
                return  # an earlier attempt went through; only its answer was lost
            transient = ("unhealthy cluster", "deadline exceeded", "leader changed", "timed out")
            if not any(t in r.stderr for t in transient) or time.monotonic() > deadline:
                raise RuntimeError("etcdctl member %s failed: %s" % (args[0], r.stderr))
            time.sleep(0.5)

    def replace_member(self, old, via, timeout=60):
        """The etcd procedure: member remove, member add, start the new member with
        --initial-cluster-state existing. Returns the new member, healthy."""
        self._reconfigure(via, timeout, "remove", self.member_id(old, via))
        old.kill()
        self.members.remove(old)
        new = Member("m%d" % (max(int(m.name[1:]) for m in self.members + [old]) + 1),
                     free_port(), free_port())
        self._reconfigure(via, timeout, "add", new.name,
                          "--peer-urls=https://127.0.0.1:%d" % new.peer_port)
        self.members.append(new)
        cluster = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)
        log = open(os.path.join(self.dir, "etcd-%s.log" % new.name), "w")
        new.proc = subprocess.Popen(self._args(new, cluster, "existing"), stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.etcdctl([new.endpoint], "endpoint", "health", check=False,
                            timeout=10).returncode == 0:
                return new
            time.sleep(0.2)
        raise RuntimeError("new member not healthy within %ss" % timeout)

    def etcdctl(self, endpoints, *args, check=True, timeout=20, client_cert=True):
        cmd = ["etcdctl", "--endpoints", ",".join("https://" + e for e in endpoints),
               "--cacert", self.pki.ca_crt, "--dial-timeout", "3s",
               "--command-timeout", "5s"]
        if client_cert:
            cmd += ["--cert", self.client_crt, "--key", self.client_key]
        return subprocess.run(cmd + list(args), capture_output=True, text=True, check=check,
                              timeout=timeout, env=dict(os.environ, ETCDCTL_API="3"))

    def close(self):
        for m in self.members:
            if m.proc and m.proc.poll() is None:
                m.proc.send_signal(signal.SIGCONT)
                m.proc.kill()
                m.proc.wait()
