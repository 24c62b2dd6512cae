"""k3lb import-haproxy: the HAProxy configs the K3s and RKE2 docs show (written here from what
those pages show: one tcp frontend and backend per port, `option tcp-check`, `default-server
inter 10s downinter 5s`, three servers) convert without a difference and pass `k3lb check`
(they name other addresses: checked, never served); the shared benchmark's HAProxy config,
on loopback ports, converts and the result serves the same traffic as HAProxy does from the
original; an edge gateway's directives (PROXY protocol, httpchk, check-ssl, ports, backups)
carry over; what cannot is named line by line and makes the exit status 1."""
import shutil
import subprocess

import pytest

from k3lbtest import BIN, free_port, ask_name
from contrib.lab.net import wait_until

K3S_DOCS = """frontend k3s-frontend
    bind *:6443
    mode tcp
    option tcplog
    default_backend k3s-backend

backend k3s-backend
    mode tcp
    option tcp-check
    balance roundrobin
    default-server inter 10s downinter 5s
    server server-1 10.10.10.50:6443 check
    server server-2 10.10.10.51:6443 check
    server server-3 10.10.10.52:6443 check
"""

RKE2_DOCS = "".join(
    """frontend rke2-%(n)s-frontend
    bind *:%(p)d
    mode tcp
    option tcplog
    default_backend rke2-%(n)s-backend

backend rke2-%(n)s-backend
    mode tcp
    option tcp-check
    balance roundrobin
    default-server inter 10s downinter 5s
    server server-1 10.10.10.50:%(p)d check
    server server-2 10.10.10.51:%(p)d check
    server server-3 10.10.10.52:%(p)d check

""" % {"n": n, "p": p} for n, p in (("supervisor", 9345), ("api", 6443)))


def convert(tmp_path, text, name="haproxy.cfg"):
    src = tmp_path / name
    src.write_text(text)
    r = subprocess.run([BIN, "import-haproxy", str(src)], capture_output=True, text=True,
                       timeout=30)
    out = tmp_path / (name + ".yaml")
    out.write_text(r.stdout)
    return r, out


def check(path):
    r = subprocess.run([BIN, "check", "-c", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_docs_configs_convert_exactly(tmp_path):
    import yaml
    for name, text, ports in (("k3s.cfg", K3S_DOCS, [6443]), ("rke2.cfg", RKE2_DOCS, [9345, 6443])):
        r, out = convert(tmp_path, text, name)
        assert r.returncode == 0 and r.stderr == "", (name, r.stderr)
        assert ": ok (%d frontend" % len(ports) in check(out)
        cfg = yaml.safe_load(out.read_text())
        assert [f["listen"] for f in cfg["frontends"]] == [[":%d" % p] for p in ports]
        assert all(f["access_log"] for f in cfg["frontends"])  # option tcplog
        for b, p in zip(cfg["backends"], ports):
            assert b["balance"] == "roundrobin"
            assert [s["address"] for s in b["servers"]] == ["10.10.10.%d:%d" % (i, p)
                                                             for i in (50, 51, 52)]
            h = b["health"]
            assert (h["kind"], h["interval"], h["down_interval"]) == ("tcp", "10s", "5s")
            assert (h["rise"], h["fall"], h["on_down"]) == (2, 3, "keep")  # HAProxy's defaults
            assert h["timeout"] == "10s"  # no timeout connect/check: HAProxy waits up to inter


EDGE = """global
    log /dev/log local0
    maxconn 20000
    nbthread 2
    user haproxy
    daemon

defaults
    mode tcp
    timeout connect 4s
    timeout client 30m
    timeout server 30m
    option redispatch

frontend api
    bind 10.0.0.5:6443,10.0.0.6:6443 accept-proxy
    default_backend api

backend api
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 3s fall 2 rise 1 check-ssl verify none on-marked-down shutdown-sessions
    server s1 10.0.0.11:6443 weight 2
    server s2 10.0.0.12:6443
    server s3 10.0.0.13:6443 backup

listen ingress-https
    bind :443
    balance source
    server t1 10.0.0.21:30443 check port 30444 send-proxy-v2
    server t2 10.0.0.22:30443 check port 30444 send-proxy-v2 disabled
"""


def test_edge_gateway_directives_carry_over(tmp_path):
    import yaml
    r, out = convert(tmp_path, EDGE)
    # only process settings are left behind: the traffic is the same
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert [l.split(": directive not supported: ")[1].split(" (")[0] for l in lines] == [
        "log /dev/log local0", "daemon", "option redispatch"], lines
    assert lines[0].startswith("%s:2: " % (tmp_path / "haproxy.cfg")), lines
    check(out)
    cfg = yaml.safe_load(out.read_text())
    assert (cfg["maxconn"], cfg["workers"], cfg["user"]) == (20000, 2, "haproxy")
    api, ing = cfg["frontends"]
    assert api["listen"] == ["10.0.0.5:6443", "10.0.0.6:6443"] and api["accept_proxy"] is True
    assert ing["listen"] == [":443"] and ing["backend"] == "ingress-https"
    b = {x["name"]: x for x in cfg["backends"]}
    assert b["api"]["balance"] == "leastconn"
    assert (b["api"]["connect_timeout"], b["api"]["idle_timeout"]) == ("4s", "30m")
    assert b["api"]["servers"] == [{"address": "10.0.0.11:6443", "weight": 2},
                                   {"address": "10.0.0.12:6443"},
                                   {"address": "10.0.0.13:6443", "backup": True}]
    h = b["api"]["health"]
    assert (h["kind"], h["path"], h["expect_status"], h["interval"], h["timeout"]) == (
        "https", "/readyz", [200], "3s", "3s")
    assert (h["fall"], h["rise"], h["on_down"], h["tls"]) == (2, 1, "close", {"verify": False})
    assert b["ingress-https"]["balance"] == "source"
    assert b["ingress-https"]["servers"] == [
        {"address": "10.0.0.21:30443", "check_port": 30444, "send_proxy": "v2"},
        {"address": "10.0.0.22:30443", "weight": 0, "check_port": 30444, "send_proxy": "v2"}]


def test_what_cannot_be_carried_over_is_named(tmp_path):
    r, out = convert(tmp_path, """defaults
    mode tcp
frontend f
    bind :6443
    tcp-request inspect-delay 5s
    use_backend b if { src 10.0.0.0/8 }
    default_backend b
backend b
    balance uri
    server s1 10.0.0.1:6443 check minconn 100
    server s2 10.0.0.2
listen web
    mode http
    bind :80
    server w 10.0.0.3:80
""")
    assert r.returncode == 1
    cfg = str(tmp_path / "haproxy.cfg")
    for at, what in ((6, "use_backend b if { src"), (9, "balance uri"), (10, "minconn 100"),
                     (11, "server s2 10.0.0.2"),
                     (13, "mode http")):
        assert "%s:%d: directive not supported: %s" % (cfg, at, what) in r.stderr, (at, r.stderr)
    assert "does not behave the same" in r.stderr
    check(out)  # what it could carry over still makes a valid config


def test_bad_input(tmp_path):
    r = subprocess.run([BIN, "import-haproxy"], capture_output=True, text=True)
    assert r.returncode == 2 and "takes one argument" in r.stderr
    r = subprocess.run([BIN, "import-haproxy", str(tmp_path / "none.cfg")], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "No such file" in r.stderr
    r, _ = convert(tmp_path, "\x00\xff garbage \"unterminated\n\tbind\n" * 100)
    assert r.returncode == 1 and "outside any section" in r.stderr


BENCH = """global
    maxconn 4000

defaults
    mode tcp
    timeout connect 5s
    timeout client  1h
    timeout server  1h

listen http
    bind 127.0.0.1:%(l1)d
    balance roundrobin
    server s1 %(b1)s
    server s2 %(b2)s

listen idle
    bind 127.0.0.1:%(l2)d
    balance roundrobin
    server s1 %(b3)s
    server s2 %(b4)s
"""


@pytest.mark.skipif(not shutil.which("haproxy"), reason="needs haproxy")
def test_bench_config_serves_the_same_traffic(tmp_path, k3lb, backends):
    """The shared benchmark's HAProxy config (its ports on loopback): HAProxy from the original
    and k3lb from the conversion, side by side to the same name backends, spread the same
    clients over the same servers, evenly."""
    be = [backends("name", name="b%d" % i) for i in range(4)]
    ha = {"l1": free_port(), "l2": free_port(), "b1": be[0].addr, "b2": be[1].addr,
          "b3": be[2].addr, "b4": be[3].addr}
    kk = dict(ha, l1=free_port(), l2=free_port())
    src = tmp_path / "bench-haproxy.cfg"
    src.write_text(BENCH % ha)
    r, out = convert(tmp_path, BENCH % kk, "bench-k3lb.cfg")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(src)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        k = k3lb()
        k.start(out.read_text().replace("frontends:", "admin: {listen: off}\nfrontends:", 1))
        for port in (ha["l1"], ha["l2"]):
            wait_until(lambda: _answers(port), 10, "haproxy on %d" % port)
        for pool in ("l1", "l2"):
            seq_ha = [ask_name(ha[pool]) for _ in range(20)]
            seq_k = [ask_name(kk[pool]) for _ in range(20)]
            assert set(seq_ha) == set(seq_k) and len(set(seq_k)) == 2, (seq_ha, seq_k)
            # round robin in both: k3lb's two workers each keep their own turn, so its two
            # counts may differ by one per worker
            n_ha = [seq_ha.count(x) for x in sorted(set(seq_ha))]
            n_k = [seq_k.count(x) for x in sorted(set(seq_k))]
            assert abs(n_ha[0] - n_ha[1]) <= 1 and abs(n_k[0] - n_k[1]) <= 2, (n_ha, n_k)
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(port):
    try:
        ask_name(port, timeout=1)
        return True
    except OSError:
        return False


def test_frontend_limits(tmp_path):
    """HAProxy's maxconn is per frontend, k3lb's per process: the same for one frontend, named
    as a difference for two."""
    import yaml
    one = "frontend f\n    bind :1\n    maxconn 500\n    default_backend b\n" \
          "backend b\n    server s 10.0.0.1:1\n"
    r, out = convert(tmp_path, one)
    assert r.returncode == 0 and yaml.safe_load(out.read_text())["maxconn"] == 500, r.stderr
    r, out = convert(tmp_path, one + "frontend g\n    bind :2\n    maxconn 300\n"
                     "    default_backend b\n")
    assert r.returncode == 1 and "directive not supported: maxconn g" in r.stderr, r.stderr
    assert yaml.safe_load(out.read_text())["maxconn"] == 800


GATEWAY = """defaults
  mode tcp
  timeout connect 2s
  timeout client 1m
  timeout server 1m
  timeout queue 20s
frontend edge
  bind :443
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.ssl_hello_type 1 }
  stick-table type ip size 100k expire 30s store conn_cur,conn_rate(1s)
  tcp-request connection track-sc0 src
  tcp-request connection reject if { sc_conn_cur(0) gt 20 }
  tcp-request connection reject if { sc0_conn_rate gt 100 }
  acl is_b req.ssl_sni -i api.b.example
  acl is_b req.ssl_sni -i api2.b.example
  use_backend a if { req.ssl_sni -i api.a.example } || { req.ssl_sni -i -m end .a.example }
  use_backend b if is_b
  default_backend ingress
backend a
  server a1 10.0.0.1:6443 check maxconn 50 maxqueue 10 slowstart 30s agent-check agent-port 9999 agent-inter 3s agent-send "ping\\n"
  server a2 10.0.0.2:6443 check maxconn 50 maxqueue 10 slowstart 30s agent-check agent-port 9999
backend b
  server b1 10.0.1.1:6443 check
backend ingress
  server i1 10.0.3.1:443 check
"""


def test_gateway_limits_routes_and_agents_carry_over(tmp_path):
    """SNI routes (anonymous and named acls, -m end), the hello's inspect-delay, per-source
    limits from stick-table idioms, maxconn, maxqueue, timeout queue, slowstart and agent-check
    convert without a difference and pass `k3lb check`; what maps only roughly is named."""
    import yaml
    r, out = convert(tmp_path, GATEWAY)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("\n") == 1 and "refused attempts do not count" in r.stderr, r.stderr
    check(out)
    cfg = yaml.safe_load(out.read_text())
    fe = cfg["frontends"][0]
    assert fe["backend"] == "ingress" and fe["hello_timeout"] == "5s"
    assert fe["routes"] == [{"sni": ["api.a.example", "*.a.example"], "backend": "a"},
                            {"sni": ["api.b.example", "api2.b.example"], "backend": "b"}]
    assert fe["source_max_conns"] == 20 and fe["source_max_rate"] == 100
    a = cfg["backends"][0]
    assert a["max_queue"] == 20 and a["queue_timeout"] == "20s" and a["slowstart"] == "30s"
    assert [s["maxconn"] for s in a["servers"]] == [50, 50]
    assert a["health"]["agent"] == {"port": 9999, "interval": "3s", "send": "ping\n"}

    rough = GATEWAY.replace("conn_rate(1s)", "conn_rate(10s)").replace(
        "-m end .a.example", "-m end a.example").replace(
        "use_backend b if is_b", "use_backend b if is_b !is_b")
    r, out = convert(tmp_path, rough, "rough.cfg")
    assert r.returncode == 1
    check(out)
    for line in ("rough.cfg:7: directive not supported: conn_rate edge (a rate over another "
                 "period: written per second)",
                 "-m end: k3lb matches a suffix on a label boundary",
                 "rough.cfg:18: directive not supported: use_backend b if is_b !is_b"):
        assert line in r.stderr, r.stderr
    cfg = yaml.safe_load(out.read_text())
    assert cfg["frontends"][0]["source_max_rate"] == 10
    assert cfg["frontends"][0]["routes"][0]["sni"] == ["api.a.example", "a.example",
                                                       "*.a.example"]
