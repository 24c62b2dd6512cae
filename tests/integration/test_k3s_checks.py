"""Checks that tell the truth about a K3s server, against stand-ins that keep K3s's and
kube-apiserver's rules (contrib/lab/apiserver.py cites them) and real etcd members as their
datastores: the CA hash of custom and intermediate CAs as K3s computes it, the system's trust
store, the agent token and bootstrap tokens with what each refusal means, the API server's own
/readyz (a datastore cut, a graceful shutdown, kubectl through k3lb meanwhile) and join readiness
across backends (requires)."""
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from k3lbtest import (BIN, ApiServer, KubectlLoop, free_port, https_get, servers,
                      wait_server, serve_backends as start)

from contrib.lab.etcd_cluster import EtcdCluster  # noqa: E402
from contrib.lab.pki import Pki  # noqa: E402

FAST = "interval: 300ms, timeout: 250ms, rise: 1, fall: 1"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write(path, text):
    path.write_text(text)
    return str(path)


def basic(user, password):
    import base64
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class Servers:
    """Stand-ins made in one test, closed at its end."""

    def __init__(self, tmp_path):
        self.dir, self.made = str(tmp_path), []

    def __call__(self, cert, key, **kw):
        s = ApiServer(self.dir, cert, key, **kw)
        self.made.append(s)
        return s

    def close(self):
        for s in self.made:
            s.close()


@pytest.fixture
def stand_in(tmp_path):
    s = Servers(tmp_path)
    yield s
    s.close()


def agent(k3lb, tmp_path, fixed, token_file, env=None):
    """k3lb agent before one fixed address, learning from /v1-k3s/apiservers."""
    k = k3lb()
    k.port, k.admin_port = free_port(), free_port()
    k.start(command="agent", env=dict(env or {}, K3S_TOKEN_FILE=token_file), args=[
        "--server", "https://" + fixed, "--listen", "127.0.0.1:%d" % k.port,
        "--admin", "127.0.0.1:%d" % k.admin_port,
        "--state-file", str(tmp_path / ("state-%d.json" % k.port)),
        "--check-interval", "300ms", "--check-timeout", "250ms", "--refresh", "300ms"])
    return k


# ---- the CA hash -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["self-signed", "root+intermediate", "other-order",
                                  "wrong-root"])
def test_ca_hash_as_k3s_computes_it(k3lb, stand_in, tmp_path, case):
    """K3s hashes a /cacerts of one certificate as its bytes and a bundle of more as the DER of
    the root the first one chains to (pkg/clientaccess/token.go hashCA): a custom root with an
    intermediate keeps its token across renewals. A bundle whose first certificate is the root
    itself chains to nothing, so K3s hashes its bytes. The agent learns its list only when the
    hash matches."""
    root = Pki(str(tmp_path / "root"), "custom-root")
    inter = Pki(str(tmp_path / "inter"), "k3s-intermediate", parent=root)
    issuer = root if case == "self-signed" else inter
    cert, key = issuer.issue("server", ["IP:127.0.0.1"])
    bundle = tmp_path / "cacerts.pem"
    parts = {"self-signed": [root.ca_crt], "other-order": [root.ca_crt, inter.ca_crt]}.get(
        case, [inter.ca_crt, root.ca_crt])
    bundle.write_bytes(b"".join(open(p, "rb").read() for p in parts))
    want = {"self-signed": sha256(bundle.read_bytes()),
            "root+intermediate": sha256(root.der()),
            "other-order": sha256(bundle.read_bytes()),
            "wrong-root": sha256(Pki(str(tmp_path / "other"), "other-root").der())}[case]
    listing = tmp_path / "apiservers"
    listing.write_text("127.0.0.1:1,127.0.0.1:2")
    s = stand_in(cert, key, ca=str(bundle), password="pw", apiservers_file=str(listing))
    token = write(tmp_path / "token", "K10%s::server:pw\n" % want)
    if case == "root+intermediate":  # a token made from the bundle's bytes is not K3s's
        stale = write(tmp_path / "stale", "K10%s::server:pw\n" % sha256(bundle.read_bytes()))
    else:
        stale = token
    k = start(k3lb, """
  - name: k3s
    servers: ["%s"]
    health: {kind: k3s, token_file: %s, %s}
  - name: stale
    servers: ["%s"]
    health: {kind: k3s, token_file: %s, %s}
""" % (s.addr, token, FAST, s.addr, stale, FAST))
    a = agent(k3lb, tmp_path, s.addr, token)
    if case == "wrong-root":
        st = wait_server(k, "k3s", s.addr, "down", "tls_error")
        assert st["check"]["detail"] == (
            "the server's CA does not match the token's hash (its /cacerts is hashed as its "
            "root /CN=custom-root (2 certificates)): wrong cluster, or wrong token")
        a.wait_for(lambda st: "not trusted" in a.log(), what="the agent refusing the CA")
        assert "learned servers (from k3s)" not in a.log()
        return
    st = wait_server(k, "k3s", s.addr, "up", "ok")
    assert st["check"]["detail"] == "HTTP 200 from /v1-k3s/readyz"
    a.wait_for(lambda st: "learned servers (from k3s): 127.0.0.1:1, 127.0.0.1:2" in a.log(),
               what="the learned list")
    if case == "root+intermediate":
        st = wait_server(k, "stale", s.addr, "down", "tls_error")
        assert "hashed as its root /CN=custom-root" in st["check"]["detail"]


def test_system_trust_store_is_followed_as_k3s_does(k3lb, stand_in, tmp_path, pki):
    """A server whose certificate the system's store trusts is not held to the token's hash
    (K3s's agent asks /cacerts with the system's roots first and then skips the hash), said
    once; the requests after it are verified against the system's store."""
    cert, key = pki.issue("server", ["IP:127.0.0.1"])
    s = stand_in(cert, key, ca=pki.ca_crt, password="pw")
    token = write(tmp_path / "token", "K10%s::server:pw\n" % sha256(b"another cluster"))
    env = {"SSL_CERT_FILE": pki.ca_crt}
    k = k3lb()
    k.admin_port = free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n  - {name: k3s, listen: "
            "[\"127.0.0.1:%d\"], backend: k3s}\nbackends:\n  - name: k3s\n    servers: [\"%s\"]\n"
            "    health: {kind: k3s, token_file: %s, %s}\n"
            % (k.admin_port, free_port(), s.addr, token, FAST), env=env)
    wait_server(k, "k3s", s.addr, "up", "ok")
    k.wait_for(lambda st: servers(st, "k3s")[0]["check"]["checks"] >= 3, what="three probes")
    assert k.log().count("trusted by the system's CA store") == 1
    # without the system's trust, the same token is refused
    k2 = start(k3lb, """
  - name: k3s
    servers: ["%s"]
    health: {kind: k3s, token_file: %s, %s}
""" % (s.addr, token, FAST))
    wait_server(k2, "k3s", s.addr, "down", "tls_error")


# ---- tokens ------------------------------------------------------------------------------------

def test_tokens_as_k3s_judges_them(k3lb, stand_in, tmp_path, pki):
    """A server started with --agent-token: the server token's password is no longer the node
    password (401, and k3lb says which token to give), the agent token passes, a bootstrap
    token passes once the API server is up and is refused (403) before, an unknown one is 401."""
    cert, key = pki.issue("server", ["IP:127.0.0.1"])
    h = sha256(open(pki.ca_crt, "rb").read())
    s = stand_in(cert, key, ca=pki.ca_crt, password="srvpw", agent_token="agentpw",
                 bootstrap_tokens=["abcdef.0123456789abcdef"])
    tokens = {"server": "K10%s::server:srvpw" % h, "agent": "K10%s::node:agentpw" % h,
              "bootstrap": "K10%s::abcdef.0123456789abcdef" % h,
              "unknown": "K10%s::abcdef.0000000000000000" % h}
    k = start(k3lb, "".join("""
  - name: %s
    servers: ["%s"]
    health: {kind: k3s, token_file: %s, %s}
""" % (n, s.addr, write(tmp_path / n, t), FAST) for n, t in tokens.items()))
    st = wait_server(k, "server", s.addr, "down", "bad_status")
    assert st["check"]["detail"] == (
        "HTTP 401 from /v1-k3s/readyz: the token's password is not the node password: servers "
        "started with --agent-token need the agent token (K10...::node:...)")
    wait_server(k, "agent", s.addr, "up", "ok")
    wait_server(k, "bootstrap", s.addr, "up", "ok")
    st = wait_server(k, "unknown", s.addr, "down", "bad_status")
    assert "the bootstrap token is unknown" in st["check"]["detail"]
    s.set_mode("503")  # the core has not started: the API server that knows bearers is not up
    st = wait_server(k, "bootstrap", s.addr, "down", "bad_status")
    assert st["check"]["detail"] == ("HTTP 403 from /v1-k3s/readyz: a bootstrap token is only "
                                     "accepted once the server's API server is up")
    st = wait_server(k, "agent", s.addr, "down", "bad_status")
    assert st["check"]["detail"] == "HTTP 503 from /v1-k3s/readyz"
    log = k.log()
    assert "srvpw" not in log and "agentpw" not in log and "0123456789abcdef" not in log


def test_check_warns_of_checks_that_cannot_pass(tmp_path):
    """k3lb check reads the token and the paths against K3s's routes."""
    bare = write(tmp_path / "bare", "s3cret\n")
    cfg = write(tmp_path / "k3lb.yaml", """
frontends:
  - {name: f, listen: ["127.0.0.1:%d"], backend: api}
backends:
  - name: api
    servers: ["127.0.0.1:6443"]
    health: {kind: k3s, token_file: %s, path: /readyz}
  - name: tunnel
    servers: ["127.0.0.1:6443"]
    health: {kind: k3s, token_file: %s, path: /v1-k3s/connect, tls: {ca: %s}}
  - name: asserver
    servers: ["127.0.0.1:6443"]
    health: {kind: https, path: /v1-k3s/readyz,
             auth: {basic: {user: server, password_file: %s}}}
""" % (free_port(), bare, bare, bare, bare))
    r = subprocess.run([BIN, "check", "-c", cfg], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert ("backend 'api': the token has no CA hash, so the servers' CA is trusted as they "
            "send it") in r.stderr
    assert "backend 'api': /readyz is the API server's, which does not take the K3s token" \
        in r.stderr
    assert "backend 'tunnel': /v1-k3s/connect admits kubelet client certificates only" in r.stderr
    assert "backend 'tunnel': the token has no CA hash" not in r.stderr  # tls.ca is given
    assert "backend 'asserver': /v1-k3s/readyz admits user node" in r.stderr
    assert "s3cret" not in r.stderr


# ---- the API server's own readiness -----------------------------------------------------------

def etcd_leader(cluster):
    """The member etcd says leads now."""
    out = cluster.etcdctl([m.endpoint for m in cluster.members], "endpoint", "status",
                          "-w", "json").stdout
    status = json.loads(out)
    leader = status[0]["Status"]["leader"]
    for m, st in zip(cluster.members, status):
        if st["Status"]["header"]["member_id"] == leader:
            return m
    raise AssertionError("no leader in %s" % out)


def test_datastore_cut_takes_the_server_out(k3lb, stand_in, tmp_path, pki):
    """Three servers, each on its own member of a real etcd cluster. One member hangs: its
    server's /v1-k3s/readyz still says 200, its API server's /readyz fails its etcd checks, and
    k3lb takes that server out within interval x fall; kubectl through k3lb keeps working."""
    cluster = EtcdCluster(str(tmp_path), pki)
    cluster.start()
    try:
        cert, key = pki.issue("server", ["IP:127.0.0.1"])
        token = write(tmp_path / "token", "K10%s::server:pw\n" % sha256(open(pki.ca_crt,
                                                                              "rb").read()))
        sa = write(tmp_path / "sa-token", "sa-token\n")
        made = [stand_in(cert, key, ca=pki.ca_crt, password="pw", name="s%d" % i,
                         sa_tokens=["sa-token"], admin_tokens=["admin-token"],
                         readycheck_timeout=0.3,
                         datastore=("https://" + m.endpoint, pki.ca_crt, cluster.client_crt,
                                    cluster.client_key))
                for i, m in enumerate(cluster.members)]
        front = free_port()
        k = start(k3lb, """
  - name: k3s
    servers: [%s]
    health: {kind: k3s, token_file: %s, interval: 500ms, timeout: 400ms, rise: 2, fall: 2,
             apiserver: {bearer_token_file: %s}}
""" % (", ".join('"%s"' % s.addr for s in made), token, sa),
            frontends="  - {name: k3s, listen: [\"127.0.0.1:%d\"], backend: k3s}" % front)
        for s in made:
            st = wait_server(k, "k3s", s.addr, "up", "ok")
        assert st["check"]["detail"] == ("HTTP 200 from /v1-k3s/readyz; API server /readyz: ok")
        leader = etcd_leader(cluster)
        victim_member = [m for m in cluster.members if m is not leader][0]
        victim = made[cluster.members.index(victim_member)]
        clients = KubectlLoop(str(tmp_path), front, pki.ca_crt, "admin-token")
        time.sleep(1.0)  # a second of traffic before the cut (bounded, not a readiness wait)
        t0 = time.monotonic()
        victim_member.stop()  # SIGSTOP: its server's reads hang, as behind a cut link
        st = wait_server(k, "k3s", victim.addr, "down", "bad_status", timeout=10)
        gone = time.monotonic() - t0
        assert gone <= 0.5 * 2 + 0.4 + 0.5, gone  # interval x fall + timeout, and scheduling
        assert st["check"]["detail"] == (
            "API server not ready: /readyz answered 500 (etcd, etcd-readiness failed), while "
            "HTTP 200 from /v1-k3s/readyz")
        assert https_get(victim.port, "/v1-k3s/readyz", pki.ca_crt, basic("node", "pw")) == \
            (200, "ok")
        time.sleep(2.0)  # two seconds of kubectl after the server left (bounded)
        runs = clients.finish()
        after = [r for r in runs if r[0] > t0 + gone + 0.1]
        assert len(after) >= 3 and all(ok for _, ok, _ in after), after
        print("kubectl runs %d, failed %d (all before the server left at %.2f s)"
              % (len(runs), sum(not ok for _, ok, _ in runs), gone))
        victim_member.cont()
        wait_server(k, "k3s", victim.addr, "up", "ok", timeout=20)
    finally:
        cluster.close()


def test_graceful_shutdown_drains_without_client_errors(k3lb, stand_in, tmp_path, pki):
    """An API server told to stop fails /readyz's shutdown check through its shutdown delay
    while it still serves: k3lb takes it out at once, leaves its open connections to end as the
    server ends them, and no client sees an error."""
    cert, key = pki.issue("server", ["IP:127.0.0.1"])
    token = write(tmp_path / "token", "K10%s::server:pw\n" % sha256(open(pki.ca_crt,
                                                                          "rb").read()))
    sa = write(tmp_path / "sa-token", "sa-token\n")
    made = [stand_in(cert, key, ca=pki.ca_crt, password="pw", name="s%d" % i,
                     sa_tokens=["sa-token"], admin_tokens=["admin-token"], shutdown_delay=3)
            for i in range(2)]
    front = free_port()
    k = start(k3lb, """
  - name: k3s
    servers: ["%s", "%s"]
    health: {kind: k3s, token_file: %s, interval: 300ms, timeout: 250ms, rise: 1, fall: 3,
             apiserver: {bearer_token_file: %s}}
""" % (made[0].addr, made[1].addr, token, sa),
        frontends="  - {name: k3s, listen: [\"127.0.0.1:%d\"], backend: k3s}" % front)
    for s in made:
        wait_server(k, "k3s", s.addr, "up", "ok")
    clients = KubectlLoop(str(tmp_path), front, pki.ca_crt, "admin-token")
    time.sleep(1.0)  # traffic on both servers first (bounded)
    t0 = time.monotonic()
    made[0].proc.send_signal(signal.SIGTERM)
    st = wait_server(k, "k3s", made[0].addr, "down", "shutting_down", timeout=5)
    gone = time.monotonic() - t0
    assert gone < 0.3 + 0.25 + 0.3, gone  # one probe: the server's word needs no confirming
    assert st["check"]["detail"] == ("API server /readyz answered 500: it is shutting down "
                                     "(shutdown failed)")
    made[0].proc.wait(timeout=15)
    time.sleep(1.0)  # a second of traffic after it exited (bounded)
    runs = clients.finish()
    failed = [r for r in runs if not r[1]]
    assert len(runs) >= 10 and not failed, failed
    print("kubectl runs %d, failed 0; out after %.2f s" % (len(runs), gone))
    assert "closing %s" % made[0].addr not in k.log()


def test_apiserver_on_its_own_port_with_a_client_certificate(k3lb, stand_in, tmp_path, pki):
    """RKE2's layout: the supervisor on one port (its routes under /v1-rke2/), kube-apiserver on
    another; the API server is asked with a client certificate of the admin."""
    cert, key = pki.issue("server", ["IP:127.0.0.1"])
    admin_crt, admin_key = pki.issue("admin", client=True, server=False, cn="system:admin",
                                     org="system:masters")
    token = write(tmp_path / "token", "K10%s::server:pw\n" % sha256(open(pki.ca_crt,
                                                                          "rb").read()))
    api = stand_in(cert, key, ca=pki.ca_crt, password="pw", name="api", api_only=True)
    sup = stand_in(cert, key, ca=pki.ca_crt, password="pw", name="sup", program="rke2")
    k = start(k3lb, """
  - name: sup
    servers: ["%s"]
    health: {kind: k3s, token_file: %s, path: /v1-rke2/readyz, %s,
             apiserver: {port: %d, cert: %s, key: %s}}
""" % (sup.addr, token, FAST, api.port, admin_crt, admin_key))
    st = wait_server(k, "sup", sup.addr, "up", "ok")
    assert st["check"]["detail"] == "HTTP 200 from /v1-rke2/readyz; API server /readyz: ok"
    api.set_mode("hang")
    st = wait_server(k, "sup", sup.addr, "down", "timeout")
    api.set_mode("200")
    wait_server(k, "sup", sup.addr, "up", "ok")


# ---- join readiness ----------------------------------------------------------------------------

def test_join_readiness_requires_the_hosts_other_ports(k3lb, stand_in, tmp_path, pki):
    """Three hosts (127.0.0.1-3), each with an etcd member, an RKE2 supervisor and an API
    server on that member. Host B's member stops: its etcd and API server fail their checks,
    and its supervisor, whose own check still passes, leaves the pool because it requires
    them; A and C stay. It comes back when the member does."""
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    cluster = EtcdCluster(str(tmp_path), pki, hosts=hosts)
    cluster.start()
    try:
        cert, key = pki.issue("server", ["IP:" + h for h in hosts])
        token = write(tmp_path / "token", "K10%s::server:pw\n" % sha256(open(pki.ca_crt,
                                                                              "rb").read()))
        sa = write(tmp_path / "sa-token", "sa-token\n")
        sup_port, api_port = free_port(), free_port()
        store = [("https://" + m.endpoint, pki.ca_crt, cluster.client_crt, cluster.client_key)
                 for m in cluster.members]
        for h, ds in zip(hosts, store):
            stand_in(cert, key, ca=pki.ca_crt, password="pw", host=h, port=sup_port,
                     program="rke2", name="sup-" + h, datastore=ds, readycheck_timeout=0.1)
            stand_in(cert, key, ca=pki.ca_crt, host=h, port=api_port, api_only=True,
                     name="api-" + h, sa_tokens=["sa-token"], datastore=ds,
                     readycheck_timeout=0.1)
        sups = ['"%s:%d"' % (h, sup_port) for h in hosts]
        apis = ['"%s:%d"' % (h, api_port) for h in hosts]
        k = start(k3lb, """
  - name: supervisor
    requires: [apiserver, etcd]
    servers: [%s]
    health: {kind: k3s, token_file: %s, path: /v1-rke2/readyz, %s}
  - name: apiserver
    requires: [etcd]
    servers: [%s]
    health: {kind: https, path: /readyz, tls: {ca: %s}, auth: {bearer_token_file: %s}, %s}
  - name: etcd
    role: etcd
    servers: [%s]
    health: {kind: etcd, tls: {ca: %s, cert: %s, key: %s}, %s}
""" % (", ".join(sups), token, FAST, ", ".join(apis), pki.ca_crt, sa, FAST,
            ", ".join('"%s"' % m.endpoint for m in cluster.members), pki.ca_crt,
            cluster.client_crt, cluster.client_key, FAST))
        for h in hosts:
            wait_server(k, "supervisor", "%s:%d" % (h, sup_port), "up", "ok")
        leader = etcd_leader(cluster)
        b = [m for m in cluster.members if m is not leader][0]
        bh = b.host
        t0 = time.monotonic()
        b.stop()
        st = wait_server(k, "supervisor", "%s:%d" % (bh, sup_port), "down", "ok", timeout=10)
        print("supervisor on %s out after %.2f s" % (bh, time.monotonic() - t0))
        assert st["check"]["waiting_for"] in ("apiserver/%s:%d" % (bh, api_port),
                                              "etcd/%s" % b.endpoint)
        wait_server(k, "apiserver", "%s:%d" % (bh, api_port), "down", "bad_status")
        wait_server(k, "etcd", b.endpoint, "down")
        status = k.status()
        for h in hosts:
            if h != bh:
                for name, port in (("supervisor", sup_port), ("apiserver", api_port)):
                    s = [x for x in servers(status, name) if x["address"] == "%s:%d" % (h, port)]
                    assert s[0]["state"] == "up", s
        assert [b for b in status["backends"] if b["name"] == "supervisor"][0]["requires"] == \
            ["apiserver", "etcd"]
        r = subprocess.run([BIN, "ctl", "--admin", "127.0.0.1:%d" % k.admin_port, "status"],
                           capture_output=True, text=True)
        assert "(down until " in r.stdout, r.stdout
        assert "is down: it requires" in k.log()
        b.cont()
        wait_server(k, "supervisor", "%s:%d" % (bh, sup_port), "up", "ok", timeout=20)
    finally:
        cluster.close()
