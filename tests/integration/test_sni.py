"""SNI routing with TLS passed through: one k3lb port in front of three real TLS servers (nginx,
each with its own certificate), routed by the server name of the client's hello, beside HAProxy
(`req.ssl_sni`) and nginx (`ssl_preread`) given the same routing table. Every client (curl,
openssl s_client; TLS 1.2 and 1.3) must land on the same server through all three proxies, and
curl verifies that server's own certificate (the hello went on untouched). Then the reader's
edges through k3lb alone: a hello cut in small pieces, a client that is not TLS, a silent
client of a server-speaks-first protocol, a frontend with no default backend."""
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from k3lbtest import BIN, Peer, connect, free_port, read_line

pytestmark = pytest.mark.skipif(
    not shutil.which("haproxy") or not shutil.which("nginx") or not shutil.which("curl"),
    reason="needs haproxy, nginx and curl")

STREAM_MOD = "/usr/lib/nginx/modules/ngx_stream_module.so"
SERVERS = ("a", "b", "ingress")
# name asked for -> server that must answer (None: no server name at all)
CASES = [
    ("api.a.example", "a"),
    ("x.a.example", "a"),
    ("deep.x.a.example", "a"),
    ("api.b.example", "b"),
    ("API.B.Example", "b"),
    ("other.example", "ingress"),
    (None, "ingress"),
]


@pytest.fixture
def lab(tmp_path, pki):
    """Three TLS servers in one nginx, and the three proxies in front: {proxy: port}."""
    made = []
    names = {"a": ["api.a.example", "*.a.example", "*.x.a.example"], "b": ["api.b.example"],
             "ingress": ["other.example", "127.0.0.1"]}
    ports = {s: free_port() for s in SERVERS}
    blocks = ""
    for s in SERVERS:
        sans = ["DNS:%s" % n for n in names[s] if not n[0].isdigit()] + ["IP:127.0.0.1"]
        crt, key = pki.issue("srv-" + s, sans=sans)
        blocks += ("  server { listen 127.0.0.1:%d ssl; ssl_certificate %s; "
                   "ssl_certificate_key %s; location / { return 200 \"%s\\n\"; } }\n"
                   % (ports[s], crt, key, s))
    d = tmp_path / "tls-servers"
    d.mkdir()
    (d / "nginx.conf").write_text(
        "daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/error.log;\n"
        "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
        "  ssl_protocols TLSv1.2 TLSv1.3;\n%s}\n" % (d, d, blocks))
    made.append(Peer(["nginx", "-e", str(d / "error.log"), "-p", str(d), "-c",
                      str(d / "nginx.conf")], ports.values()))

    front = {p: free_port() for p in ("k3lb", "haproxy", "nginx")}
    ha = tmp_path / "haproxy.cfg"
    ha.write_text(
        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n"
        "frontend edge\n  bind 127.0.0.1:%d\n  tcp-request inspect-delay 5s\n"
        "  tcp-request content accept if { req.ssl_hello_type 1 }\n"
        "  use_backend a if { req.ssl_sni -i api.a.example } || { req.ssl_sni -i -m end .a.example }\n"
        "  use_backend b if { req.ssl_sni -i api.b.example }\n"
        "  default_backend ingress\n" % front["haproxy"] +
        "".join("backend %s\n  server s 127.0.0.1:%d\n" % (s, ports[s]) for s in SERVERS))
    made.append(Peer(["haproxy", "-db", "-f", str(ha)], [front["haproxy"]]))
    ng = tmp_path / "edge-nginx"
    ng.mkdir()
    (ng / "nginx.conf").write_text(
        "load_module %s;\ndaemon off;\nmaster_process off;\npid %s/nginx.pid;\n"
        "error_log %s/error.log;\nevents { worker_connections 64; }\nstream {\n"
        "  map $ssl_preread_server_name $to {\n    hostnames;\n    api.a.example a;\n"
        "    *.a.example a;\n    api.b.example b;\n    default ingress;\n  }\n%s"
        "  server { listen 127.0.0.1:%d; ssl_preread on; proxy_pass $to; }\n}\n"
        % (STREAM_MOD, ng, ng,
           "".join("  upstream %s { server 127.0.0.1:%d; }\n" % (s, ports[s]) for s in SERVERS),
           front["nginx"]))
    made.append(Peer(["nginx", "-e", str(ng / "error.log"), "-p", str(ng), "-c",
                      str(ng / "nginx.conf")], [front["nginx"]]))
    yield front, ports, pki
    for p in made:
        p.close()


def k3lb_edge(k3lb, port, ports, extra_fronts=""):
    k = k3lb()
    k.admin_port = free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
            "  - name: edge\n    listen: [\"127.0.0.1:%d\"]\n    backend: ingress\n"
            "    routes:\n      - {sni: [api.a.example, \"*.a.example\"], backend: a}\n"
            "      - {sni: [API.b.example], backend: b}\n%s"
            "backends:\n%s"
            % (k.admin_port, port, extra_fronts,
               "".join("  - {name: %s, servers: [\"127.0.0.1:%d\"]}\n" % (s, ports[s])
                       for s in SERVERS)))
    return k


def curl(port, name, ca, tls):
    """tls: "1.2" or "1.3", the only version offered."""
    host = name or "127.0.0.1"
    cmd = ["curl", "-sS", "--max-time", "10", "--cacert", ca, "--tlsv" + tls, "--tls-max", tls,
           "https://%s:%d/" % (host, port)]
    if name:
        cmd[1:1] = ["--resolve", "%s:%d:127.0.0.1" % (name, port)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, "curl %s: %s" % (name, r.stderr)
    return r.stdout.strip()


def s_client(port, name, ca, tls):
    """openssl s_client sends GET / and prints the answer; the last line is the server."""
    cmd = ["openssl", "s_client", "-quiet", "-CAfile", ca, "-verify_return_error", tls,
           "-connect", "127.0.0.1:%d" % port] + (["-servername", name] if name
                                                 else ["-noservername"])
    r = subprocess.run(cmd, input="GET / HTTP/1.0\r\n\r\n", capture_output=True, text=True,
                       timeout=20)
    lines = [l for l in r.stdout.strip().split("\n") if l.strip()]
    assert lines, "s_client %s: %s" % (name, r.stderr)
    return lines[-1].strip()


def test_same_routes_as_haproxy_and_nginx(k3lb, lab):
    """The routing table side by side: for every name, TLS version and client, the server that
    answers is the one the table names, through k3lb, HAProxy and nginx alike; curl's check of
    the certificate proves the server's own TLS reached the client."""
    front, ports, pki = lab
    k = k3lb_edge(k3lb, front["k3lb"], ports)
    seen = {}
    for proxy, port in front.items():
        for name, want in CASES:
            for tls in ("1.2", "1.3"):
                seen[(proxy, name, tls, "curl")] = curl(port, name, pki.ca_crt, tls)
            for tls in ("-tls1_2", "-tls1_3"):
                seen[(proxy, name, tls, "s_client")] = s_client(port, name, pki.ca_crt, tls)
    wrong = {key: got for key, got in seen.items()
             if got != dict(CASES)[key[1]]}
    assert not wrong, "answered by the wrong server: %s" % wrong
    st = k.status()
    fe = st["frontends"][0]
    assert [r["backend"] for r in fe["routes"]] == ["a", "b"]
    assert fe["routes"][1]["sni"] == ["api.b.example"]  # kept in lower case
    n_unrouted = sum(1 for name, want in CASES if want == "ingress") * 4
    assert fe["unrouted"] == n_unrouted and fe["no_route"] == 0, fe


def test_imported_haproxy_config_routes_the_same(k3lb, lab, tmp_path):
    """The HAProxy config above, through `k3lb import-haproxy` (on another port), serves each
    name from the same server: the routes, the inspect-delay and the hello check carry over
    without a difference."""
    front, ports, pki = lab
    port = free_port()
    src = tmp_path / "edge.cfg"
    src.write_text((tmp_path / "haproxy.cfg").read_text().replace(
        "bind 127.0.0.1:%d" % front["haproxy"], "bind 127.0.0.1:%d" % port))
    r = subprocess.run([BIN, "import-haproxy", str(src)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    k = k3lb()
    k.admin_port = free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\n%s" % (k.admin_port, r.stdout))
    got = {name: curl(port, name, pki.ca_crt, "1.3") for name, _ in CASES}
    assert got == dict(CASES)


def hello_bytes(name):
    """A real TLS 1.3 ClientHello from Python's ssl, as it would go on the wire."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def echo_back(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(65536)
        assert chunk, "closed after %d of %d bytes" % (len(got), n)
        got += chunk
    return got


def test_split_hello_and_other_clients(k3lb, backends, lab):
    """Through k3lb alone: a hello sent in 7-byte segments is routed by its name and reaches
    the server byte for byte (an echo server returns it); a client that does not speak TLS goes
    to the default at its first byte; a silent client goes there after hello_timeout, where its
    server speaks first; a frontend without a default closes what no route takes, and counts."""
    front, ports, pki = lab
    echo = backends(mode="echo")
    named = backends(mode="name", name="first-speaker")
    plain, quiet, strict = free_port(), free_port(), free_port()
    k = k3lb()
    k.admin_port = free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
            "  - name: mixed\n    listen: [\"127.0.0.1:%d\"]\n    backend: speaker\n"
            "    hello_timeout: 20s\n"
            "    routes: [{sni: [echo.example], backend: echo}]\n"
            "  - name: quiet\n    listen: [\"127.0.0.1:%d\"]\n    backend: speaker\n"
            "    hello_timeout: 300ms\n"
            "    routes: [{sni: [echo.example], backend: echo}]\n"
            "  - name: strict\n    listen: [\"127.0.0.1:%d\"]\n"
            "    routes: [{sni: [echo.example], backend: echo}]\n"
            "backends:\n  - {name: echo, servers: [\"%s\"]}\n"
            "  - {name: speaker, servers: [\"%s\"]}\n"
            % (k.admin_port, plain, quiet, strict, echo.addr, named.addr))

    hello = hello_bytes("echo.example")
    with connect(plain) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(hello), 7):
            s.sendall(hello[i:i + 7])
            time.sleep(0.002)  # separate segments, not a synchronisation
        assert echo_back(s, len(hello)) == hello

    with connect(plain) as s:  # not TLS: the default backend at once, which speaks first
        s.sendall(b"SSH-2.0-client\r\n")
        t0 = time.monotonic()
        assert read_line(s) == "first-speaker"
        assert time.monotonic() - t0 < 10  # decided on the first byte, not at the 20 s timeout
    with connect(quiet) as s:  # silent: routed when hello_timeout (300 ms) has passed
        t0 = time.monotonic()
        assert read_line(s) == "first-speaker"
        assert time.monotonic() - t0 >= 0.29

    with connect(strict) as s:  # no route and no default: closed (reset: the hello is unread)
        s.sendall(hello_bytes("other.example"))
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
    with connect(strict) as s:
        s.sendall(hello)
        assert echo_back(s, len(hello)) == hello
    # a frontend of routes only is healthy by its routes' backends (it has no default pool)
    code, body = k.http("GET", "/healthz?frontend=strict")
    assert code == 200 and b"strict 1/1" in body, body
    st = k.status()
    by_name = {f["name"]: f for f in st["frontends"]}
    assert by_name["mixed"]["unrouted"] == 1, by_name["mixed"]
    assert by_name["quiet"]["unrouted"] == 1, by_name["quiet"]
    assert by_name["strict"]["no_route"] == 1, by_name["strict"]
    assert by_name["strict"]["backend"] is None
    m = k.http("GET", "/metrics")[1].decode()
    assert 'k3lb_frontend_no_route_total{frontend="strict"} 1' in m
    assert 'k3lb_frontend_unrouted_total{frontend="mixed"} 1' in m


def test_route_errors(tmp_path):
    """Bad routes are refused at load with the file, line and column of the key at fault."""
    cfg = tmp_path / "k3lb.yaml"
    cfg.write_text(
        "admin: {listen: \"off\"}\n"
        "frontends:\n"
        "  - name: edge\n    listen: [\"127.0.0.1:1\"]\n"
        "    routes:\n"
        "      - {sni: [api.a.example, \"*.a.example\"], backend: a}\n"
        "      - {sni: [\"x*.c\", \"a..b\", API.a.example], backend: bb}\n"
        "  - name: none\n    listen: [\"127.0.0.1:2\"]\n"
        "backends:\n  - {name: a, servers: [\"127.0.0.1:3\"]}\n"
        "  - {name: b, servers: [\"127.0.0.1:4\"]}\n")
    r = subprocess.run([BIN, "check", "-c", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 1
    p = str(cfg)
    for line in (
            "%s:7:15: route name 'x*.c' has '*' elsewhere than a leading '*.'" % p,
            "%s:7:15: route name 'a..b' has an empty label" % p,
            "%s:7:57: a route of frontend 'edge' names backend 'bb', which is not defined "
            "(did you mean 'b'?)" % p,
            "%s:7:15: frontend 'edge' routes 'api.a.example' twice (also at line 6)" % p,
            "%s:8:5: frontend 'none' needs a backend or routes" % p):
        assert line in r.stderr.split("\n"), r.stderr
