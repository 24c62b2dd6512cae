"""Health checks against the real servers they are named for: etcd with client certificates,
PostgreSQL, MariaDB, a K3s API stand-in over TLS; the SAN and quorum guards; on_down: close."""
import hashlib
import os
import signal
import socket
import time

import pytest

from k3lbtest import ApiServer, ask_name, connect, free_port, read_line, servers, wait_server
from k3lbtest import serve_backends as start

from contrib.lab.databases import MariaDB, Postgres  # noqa: E402
from contrib.lab.pki import Pki  # noqa: E402


def test_tcp_check_refused_and_ok(k3lb, backends):
    live = backends("name")
    dead = "127.0.0.1:%d" % free_port()
    k = start(k3lb, """
  - name: pool
    servers: ["%s", "%s"]
    health: {kind: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 1}
""" % (live.addr, dead))
    s = wait_server(k, "pool", dead, "down", "refused")
    assert s["check"]["detail"] == "connect: Connection refused"
    s = wait_server(k, "pool", live.addr, "up", "ok")
    assert s["check"]["checks"] >= 1 and s["check"]["detail"] == "connected"


# ---- etcd --------------------------------------------------------------------------------------

def test_etcd_check_client_cert_and_stop_detection(k3lb, etcd, tmp_path):
    c = etcd
    members = ", ".join('"%s"' % m.endpoint for m in c.members)
    other = Pki(str(tmp_path / "other-pki"))
    k = start(k3lb, """
  - name: etcd
    role: etcd
    servers: [%s]
    health: {kind: etcd, interval: 1s, timeout: 500ms, rise: 2, fall: 2,
             tls: {ca: %s, cert: %s, key: %s}}
  - name: wrongca
    servers: ["%s"]
    health: {kind: etcd, interval: 500ms, timeout: 400ms, tls: {ca: %s, cert: %s, key: %s}}
  - name: nocert
    servers: ["%s"]
    health: {kind: etcd, interval: 500ms, timeout: 400ms, tls: {ca: %s}}
""" % (members, c.pki.ca_crt, c.client_crt, c.client_key,
       c.members[1].endpoint, other.ca_crt, c.client_crt, c.client_key,
       c.members[2].endpoint, c.pki.ca_crt))
    for m in c.members:
        s = wait_server(k, "etcd", m.endpoint, "up", "ok")
        assert s["check"]["detail"] == "etcd healthy"
    s = wait_server(k, "wrongca", c.members[1].endpoint, "down", "tls_error")
    assert "certificate verify failed" in s["check"]["detail"], s
    s = wait_server(k, "nocert", c.members[2].endpoint, "down", "tls_error")
    assert "certificate" in s["check"]["detail"], s

    # a stopped member is found by timeout within timeout*fall + interval (+ jitter)
    c.members[0].stop()
    t0 = time.monotonic()
    s = wait_server(k, "etcd", c.members[0].endpoint, "down", "timeout", timeout=10)
    took = time.monotonic() - t0
    print("etcd member stopped: down after %.2f s" % took)
    assert took <= 0.5 * 2 + 1.0 + 1.0, took  # timeout * fall + interval, + jitter and load
    assert "no answer within 500ms" in s["check"]["detail"]
    k.wait_for(lambda st: [b for b in st["backends"] if b["name"] == "etcd"][0]["quorum"] ==
               {"members": 3, "healthy": 2, "majority": 2, "ok": True}, what="2 of 3")
    before = s["check"]["checks"]
    c.members[0].cont()
    s = wait_server(k, "etcd", c.members[0].endpoint, "up", "ok", timeout=10)
    assert s["check"]["checks"] - before >= 2  # rise: 2 passing checks
    assert "server_down" in k.log() and "server_up" in k.log()


# ---- datastores ----------------------------------------------------------------------------------

@pytest.fixture
def silent():
    """A TCP listener that accepts (in the kernel) and never says a word."""
    socks = []

    def make():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        socks.append(s)
        return "127.0.0.1:%d" % s.getsockname()[1]
    yield make
    for s in socks:
        s.close()


def test_postgres_and_mariadb_checks(k3lb, silent):
    pg, maria = Postgres(), MariaDB()
    try:
        pg.start()
        maria.start()
        quiet_pg, quiet_my = silent(), silent()
        k = start(k3lb, """
  - name: pg
    servers: ["%s", "%s"]
    health: {kind: postgres, interval: 300ms, timeout: 250ms, rise: 1, fall: 2}
  - name: my
    servers: ["%s", "%s"]
    health: {kind: mysql, interval: 300ms, timeout: 250ms, rise: 1, fall: 2}
""" % (pg.addr, quiet_pg, maria.addr, quiet_my))
        s = wait_server(k, "pg", pg.addr, "up", "ok")
        assert "PostgreSQL" in s["check"]["detail"], s
        s = wait_server(k, "my", maria.addr, "up", "ok")
        assert s["check"]["detail"].startswith("MySQL protocol 10 greeting (server 10."), s
        assert "MariaDB" in s["check"]["detail"]
        for b, a in (("pg", quiet_pg), ("my", quiet_my)):
            s = wait_server(k, b, a, "down", "timeout")
        pg.stop()
        maria.stop()
        wait_server(k, "pg", pg.addr, "down", "refused")
        wait_server(k, "my", maria.addr, "down", "refused")
    finally:
        pg.close()
        maria.close()


# ---- K3s API stand-in ------------------------------------------------------------------------------

@pytest.fixture
def api_factory(tmp_path, pki):
    made = []
    cert, key = pki.issue("api", ["IP:127.0.0.1", "DNS:localhost"])

    def make(name="api", cert=cert, key=key, **kw):
        a = ApiServer(str(tmp_path), cert, key, ca=pki.ca_crt, name=name, **kw)
        made.append(a)
        return a
    yield make
    for a in made:
        a.close()


def test_https_check_modes(k3lb, api_factory, pki, tmp_path):
    """An https check of the API server's /readyz, with a ServiceAccount token (K3s runs
    kube-apiserver without anonymous access): 200, 503 while the server has not handed its API
    over, 401 for a token it does not know, timeouts for a hung or stopped server."""
    good, bad = tmp_path / "sa-good", tmp_path / "sa-bad"
    good.write_text("sa-token\n")
    bad.write_text("not-a-token\n")
    a = [api_factory("a%d" % i, sa_tokens=["sa-token"]) for i in range(3)]
    k = start(k3lb, """
  - name: api
    servers: [%s]
    health: {kind: https, path: /readyz, interval: 300ms, timeout: 250ms, rise: 1, fall: 1,
             tls: {ca: %s}, auth: {bearer_token_file: %s}}
  - name: wrong
    servers: ["%s"]
    health: {kind: https, path: /readyz, interval: 300ms, timeout: 250ms, rise: 1, fall: 1,
             tls: {ca: %s}, auth: {bearer_token_file: %s}}
""" % (", ".join('"%s"' % x.addr for x in a), pki.ca_crt, good, a[2].addr, pki.ca_crt, bad))
    a[1].set_mode("503")
    s = wait_server(k, "api", a[0].addr, "up", "ok")
    assert s["check"]["detail"] == "HTTP 200 from /readyz"
    s = wait_server(k, "api", a[1].addr, "down", "bad_status")
    assert s["check"]["detail"] == "HTTP 503 from /readyz"
    s = wait_server(k, "wrong", a[2].addr, "down", "bad_status")
    assert s["check"]["detail"] == \
        "HTTP 401 from /readyz: the check needs credentials (health.auth)"
    a[0].set_mode("hang")
    s = wait_server(k, "api", a[0].addr, "down", "timeout")
    assert s["check"]["detail"] == "no answer within 250ms"
    a[1].set_mode("200")
    wait_server(k, "api", a[1].addr, "up", "ok")
    a[1].stop()  # SIGSTOP: detected by timeout
    wait_server(k, "api", a[1].addr, "down", "timeout")
    a[1].cont()
    wait_server(k, "api", a[1].addr, "up", "ok")
    assert "sa-token" not in k.log()


def test_k3s_check_pins_ca_to_token(k3lb, api_factory, pki, tmp_path):
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    token = tmp_path / "token"
    token.write_text("K10%s::server:s3cret\n" % ca_hash)
    other = Pki(str(tmp_path / "other"))
    ocert, okey = other.issue("imposter", ["IP:127.0.0.1"])
    good = api_factory("good", password="s3cret")
    wrong_pw = api_factory("wrongpw", password="other")
    imposter = ApiServer(str(tmp_path), ocert, okey, ca=other.ca_crt, password="s3cret",
                         name="imposter")
    plain = api_factory("plain")
    try:
        k = start(k3lb, """
  - name: k3s
    servers: ["%s", "%s", "%s"]
    health: {kind: k3s, token_file: %s, interval: 300ms, timeout: 250ms, rise: 1, fall: 1}
  - name: ping
    servers: ["%s"]
    health: {kind: k3s, interval: 300ms, timeout: 250ms, rise: 1, fall: 1}
""" % (good.addr, wrong_pw.addr, imposter.addr, token, plain.addr))
        s = wait_server(k, "k3s", good.addr, "up", "ok")
        assert s["check"]["detail"] == "HTTP 200 from /v1-k3s/readyz"
        # K3s sheds load with 429 past 20 agent requests in flight: busy, not down
        def good_now(st):
            return [x for x in servers(st, "k3s") if x["address"] == good.addr][0]
        good.set_mode("429")
        mark = len(k.log())
        k.wait_for(lambda st: "busy" in good_now(st)["check"]["detail"], what="429 seen")
        seen = good_now(k.status())["check"]["checks"]
        k.wait_for(lambda st: good_now(st)["check"]["checks"] >= seen + 3,
                   what="three more probes answered 429")  # fall is 1
        assert good_now(k.status())["state"] == "up"
        assert "%s is down" % good.addr not in k.log()[mark:]
        good.set_mode("200")
        s = wait_server(k, "k3s", wrong_pw.addr, "down", "bad_status")
        assert s["check"]["detail"].startswith("HTTP 401 from /v1-k3s/readyz")
        s = wait_server(k, "k3s", imposter.addr, "down", "tls_error")
        assert "does not match the token's hash" in s["check"]["detail"]
        s = wait_server(k, "ping", plain.addr, "up", "ok")
        assert s["check"]["detail"] == "HTTP 200 from /ping"
        assert "s3cret" not in k.log()
    finally:
        imposter.close()


# ---- guards ----------------------------------------------------------------------------------------

def test_san_guard(k3lb, api_factory, pki):
    covered_cert, covered_key = pki.issue("covered", ["IP:127.0.0.1", "DNS:lb.example"])
    # servers that admit anonymous /readyz (an AuthenticationConfiguration): no token needed
    bare = api_factory("bare", anonymous_paths=["/readyz"])
    covered = api_factory("covered", cert=covered_cert, key=covered_key,
                          anonymous_paths=["/readyz"])
    port = free_port()
    k = start(k3lb, """
  - name: api
    servers: ["%s", "%s"]
    health: {kind: https, interval: 300ms, timeout: 250ms, rise: 1, tls: {ca: %s}}
""" % (bare.addr, covered.addr, pki.ca_crt), frontends="""
  - {name: fixed, listen: ["127.0.0.1:%d"], backend: api, tls_san: [lb.example, 127.0.0.1]}
""" % port)
    s = wait_server(k, "api", bare.addr, "up", "ok")
    k.wait_for(lambda st: "san_warning" in servers(st, "api")[0]["check"], what="SAN warning")
    s = servers(k.status(), "api")
    assert s[0]["check"]["san_warning"] == (
        "certificate of api/%s does not cover lb.example: start the server with "
        "--tls-san lb.example" % bare.addr)
    assert "san_warning" not in s[1]["check"]
    assert k.log().count("does not cover lb.example") == 1  # logged once, not every probe


def test_quorum_guard(k3lb, backends):
    b = [backends("name", name="m%d" % i) for i in range(3)]
    two = [backends("name", name="t%d" % i) for i in range(2)]
    k = start(k3lb, """
  - name: etcd3
    role: etcd
    servers: [%s]
    health: {interval: 300ms, timeout: 200ms, fall: 1, rise: 1}
  - name: etcd2
    role: etcd
    servers: [%s]
""" % (", ".join('"%s"' % x.addr for x in b), ", ".join('"%s"' % x.addr for x in two)))
    assert "backend 'etcd2' has 2 etcd members" in k.log()
    assert "etcd3' has" not in k.log()
    b[0].kill()
    b[1].kill()
    k.wait_for(lambda st: not [x for x in st["backends"] if x["name"] == "etcd3"][0]
               ["quorum"]["ok"], what="quorum lost")
    assert "1 of 3 etcd members of backend 'etcd3' healthy: writes will fail" in k.log()


def test_backend_without_a_usable_server_says_so(k3lb, backends):
    """The last usable server of a backend going down is one warn line (what happens to new
    clients included), its coming back one info line; a server going down while another is
    up says nothing of the backend."""
    a, b = backends("name", name="a"), backends("name", name="b")
    k = start(k3lb, """
  - name: api
    when_all_down: refuse
    servers: ["%s", "%s"]
    health: {interval: 200ms, timeout: 150ms, down_interval: 200ms, fall: 1, rise: 1}
""" % (a.addr, b.addr))
    a.kill()
    wait_server(k, "api", a.addr, "down")
    assert "backend 'api'" not in k.log()
    b.kill()
    wait_server(k, "api", b.addr, "down")
    assert "backend 'api' has no usable server: new clients are refused" in k.log()
    st = [x for x in k.status()["backends"] if x["name"] == "api"][0]
    assert st["servers_usable"] == 0
    assert 'k3lb_backend_up{backend="api"} 0' in k.http("GET", "/metrics")[1].decode()
    b = backends("name", name="b", port=b.port)
    wait_server(k, "api", b.addr, "up")
    assert "backend 'api' has a usable server again" in k.log()
    assert 'k3lb_backend_servers_usable{backend="api"} 1' in k.http("GET", "/metrics")[1].decode()


# ---- on_down: close --------------------------------------------------------------------------------

def test_on_down_closes_connections(k3lb, backends, tmp_path):
    modes = [str(tmp_path / ("mode%d" % i)) for i in range(2)]
    b = [backends("httpecho", name="s%d" % i, args=["--mode-file", modes[i]]) for i in range(2)]
    k = start(k3lb, """
  - name: pool
    servers: ["%s", "%s"]
    health: {kind: http, path: /readyz, interval: 200ms, timeout: 150ms, rise: 1, fall: 1}
""" % (b[0].addr, b[1].addr))
    port = int(k.status()["frontends"][0]["listen"][0].rsplit(":", 1)[1])
    conns = {}
    for _ in range(10):
        s = connect(port)
        s.sendall(b"WHO\n")
        conns.setdefault(read_line(s), []).append(s)
    assert sorted(conns) == ["s0", "s1"]
    with open(modes[0], "w") as f:
        f.write("503")
    # connections on s0 are closed by k3lb (the backend itself keeps them open)
    for s in conns["s0"]:
        s.settimeout(10)
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
    # connections on s1 still work, and every new connection goes to s1 and succeeds
    for s in conns["s1"]:
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"
    for _ in range(20):
        s = connect(port)
        s.sendall(b"WHO\n")
        assert read_line(s) == "s1"
        s.close()
    with open(modes[0], "w") as f:
        f.write("200")
    wait_server(k, "pool", b[0].addr, "up", "ok")
    for s in conns["s0"] + conns["s1"]:
        s.close()


def test_https_check_basic_auth(k3lb, api_factory, pki, tmp_path):
    good, bad = tmp_path / "pw-good", tmp_path / "pw-bad"
    good.write_text("s3cret\n")
    bad.write_text("wrong\n")
    a = api_factory("auth", password="s3cret")
    k = start(k3lb, """
  - name: good
    servers: ["%s"]
    health: {kind: https, path: /v1-k3s/readyz, interval: 300ms, timeout: 250ms, rise: 1,
             fall: 1, tls: {ca: %s}, auth: {basic: {user: node, password_file: %s}}}
  - name: bad
    servers: ["%s"]
    health: {kind: https, path: /v1-k3s/readyz, interval: 300ms, timeout: 250ms, rise: 1,
             fall: 1, tls: {ca: %s}, auth: {basic: {user: node, password_file: %s}}}
""" % (a.addr, pki.ca_crt, good, a.addr, pki.ca_crt, bad))
    wait_server(k, "good", a.addr, "up", "ok")
    s = wait_server(k, "bad", a.addr, "down", "bad_status")
    assert s["check"]["detail"].startswith("HTTP 401 from /v1-k3s/readyz")
    assert "s3cret" not in k.log() and "wrong" not in k.log()


def test_check_port_and_when_all_down(k3lb, backends, tmp_path):
    """health.port and check_port: probes ask another port (as Patroni's REST API beside
    PostgreSQL) while traffic goes to the server's own. when_all_down: refuse closes the client
    instead of trying a down server (a replica must never take K3s's writes)."""
    modes = [str(tmp_path / ("mode%d" % i)) for i in range(2)]
    for m, status in zip(modes, ("200", "503")):
        open(m, "w").write(status)
    db = [backends("name", name="db%d" % i) for i in range(2)]
    rest = [backends("httpecho", name="rest%d" % i, args=["--mode-file", modes[i]])
            for i in range(2)]
    k = k3lb()
    k.port, k.admin_port, one_port = free_port(), free_port(), free_port()
    # a timeout generous enough for a Python backend on a loaded CI machine
    health = "interval: 1s, timeout: 1s, rise: 1, fall: 1, down_interval: 200ms"
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
            "  - {name: db, listen: [\"127.0.0.1:%d\"], backend: db}\n"
            "  - {name: one, listen: [\"127.0.0.1:%d\"], backend: one}\n"
            "backends:\n"
            "  - name: db\n    when_all_down: refuse\n"
            "    servers: [{address: \"%s\", check_port: %d}, {address: \"%s\", check_port: %d}]\n"
            "    health: {kind: http, path: /primary, %s}\n"
            "  - name: one\n    servers: [\"%s\"]\n"
            "    health: {kind: http, path: /primary, port: %d, %s}\n"
            % (k.admin_port, k.port, one_port, db[0].addr, rest[0].port, db[1].addr,
               rest[1].port, health, db[0].addr, rest[1].port, health))

    def states():
        st = k.status()["backends"]
        return [s["state"] for s in st[0]["servers"]], st[1]["servers"][0]["state"]

    k.wait_for(lambda st: states() == (["up", "down"], "down") and
               "503" in st["backends"][0]["servers"][1]["check"]["detail"],
               what="db0 primary, db1 down for its 503")
    assert {read_line(connect(k.port)) for _ in range(6)} == {"db0"}
    # the roles swap: traffic follows the REST answers, not the traffic ports
    open(modes[0], "w").write("503")
    open(modes[1], "w").write("200")
    k.wait_for(lambda st: states() == (["down", "up"], "up"), what="db1 primary")
    assert {read_line(connect(k.port)) for _ in range(6)} == {"db1"}
    # no primary: refused, not sent to a replica; the other backend keeps its last resort
    open(modes[1], "w").write("503")
    k.wait_for(lambda st: states() == (["down", "down"], "down"), what="no primary")
    before = k.status()["frontends"][0]["no_server"]
    c = connect(k.port)
    c.settimeout(5)
    assert c.recv(100) == b""  # closed without a byte from any server
    assert k.status()["frontends"][0]["no_server"] == before + 1
    assert read_line(connect(one_port)) == "db0"


def test_check_address(k3lb, backends):
    """check_address: probes go to another address (a management network) with check_port,
    traffic to the server's own."""
    srv = backends("name", name="db")
    mgmt = socket.socket()
    mgmt.bind(("127.0.0.2", 0))
    mgmt.listen(8)
    port = mgmt.getsockname()[1]
    k = start(k3lb, """
  - name: db
    servers: [{address: "%s", check_address: 127.0.0.2, check_port: %d}]
    health: {kind: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 1, down_interval: 200ms}
""" % (srv.addr, port))
    wait_server(k, "db", srv.addr, "up", "ok")
    mgmt.close()  # only the management address stops answering
    s = wait_server(k, "db", srv.addr, "down", "refused")
    assert s["check"]["detail"] == "connect: Connection refused"
    assert read_line(connect(int(k.status()["frontends"][0]["listen"][0].rsplit(":", 1)[1]))) \
        == "db"  # the last resort: traffic still reaches the server's own address
