"""The PROXY protocol against real peers: k3lb's send_proxy v1 and v2 read by HAProxy
(`bind ... accept-proxy`, mode http, answering with the src and dst it took from the header)
and by nginx (stream, `listen ... proxy_protocol`, answering with $proxy_protocol_addr);
HAProxy's send-proxy and send-proxy-v2 read by k3lb's accept_proxy and passed on to nginx, so
the client's own address crosses three hops; health checks of a PROXY port (a header of no
address, which HAProxy must take); and the strict reader: bad, missing, slow and split headers.
"""
import os
import shutil
import socket
import subprocess
import time

import pytest

from k3lbtest import BIN, Peer, connect, free_port, read_all, read_line
from contrib.lab.net import wait_until

pytestmark = pytest.mark.skipif(
    not shutil.which("haproxy") or not shutil.which("nginx") or
    not os.path.exists("/usr/lib/nginx/modules/ngx_stream_module.so"),
    reason="needs haproxy, nginx and libnginx-mod-stream")

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


@pytest.fixture
def peers(tmp_path):
    made = []

    def haproxy(http_port, to_k3lb=None, v2=True):
        """http_port: accept-proxy, answers "src src_port dst dst_port"; to_k3lb: (listen
        port, k3lb port), a tcp listener that sends k3lb a header of version 2 (or 1)."""
        cfg = tmp_path / ("haproxy-%d.cfg" % http_port)
        text = ("defaults\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n"
                "frontend seen\n  mode http\n  bind 127.0.0.1:%d accept-proxy\n"
                "  http-request return status 200 content-type text/plain lf-string "
                "\"%%[src] %%[src_port] %%[dst] %%[dst_port]\\n\"\n" % http_port)
        ports = [http_port]
        if to_k3lb:
            text += ("listen to_k3lb\n  mode tcp\n  bind 127.0.0.1:%d\n"
                     "  server k3lb 127.0.0.1:%d %s\n"
                     % (to_k3lb[0], to_k3lb[1], "send-proxy-v2" if v2 else "send-proxy"))
            ports.append(to_k3lb[0])
        cfg.write_text(text)
        p = Peer(["haproxy", "-db", "-f", str(cfg)], ports)
        made.append(p)
        return p

    def nginx(port):
        """A stream server on a proxy_protocol port: answers with what the header said."""
        d = tmp_path / ("nginx-%d" % port)
        d.mkdir()
        (d / "nginx.conf").write_text(
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
            "daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/error.log info;\n"
            "events { worker_connections 64; }\n"
            "stream {\n  server {\n    listen 127.0.0.1:%d proxy_protocol;\n"
            "    return \"$proxy_protocol_addr $proxy_protocol_port "
            "$proxy_protocol_server_addr $proxy_protocol_server_port\\n\";\n  }\n}\n"
            % (d, d, port))
        p = Peer(["nginx", "-e", str(d / "error.log"), "-p", str(d), "-c", str(d / "nginx.conf")],
                 [port])
        made.append(p)
        return p

    yield haproxy, nginx
    for p in made:
        p.close()


def http_seen(port):
    """What HAProxy behind k3lb took from the header: (src, src_port, dst, dst_port), and the
    client's own (address, port)."""
    with connect(port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_all(s)
        me = s.getsockname()
    assert data.startswith(b"HTTP/1.1 200"), data
    return data.split(b"\r\n\r\n", 1)[1].decode().split(), me


def line_seen(port):
    with connect(port) as s:
        me = s.getsockname()
        return read_line(s).split(), me


def test_send_proxy_to_haproxy_and_nginx(k3lb, peers):
    """k3lb writes both versions; HAProxy and nginx read from them the client's address and the
    address it reached on k3lb. k3lb's http check of HAProxy's accept-proxy port sends a header
    of no address first, which HAProxy takes (the check passes)."""
    haproxy, nginx = peers
    ha, ng = free_port(), free_port()
    haproxy(ha)
    nginx(ng)
    ports = {n: free_port() for n in ("ha1", "ha2", "ng1", "ng2")}
    k = k3lb()
    k.admin_port = free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
            "  - {name: ha1, listen: [\"127.0.0.1:%d\"], backend: ha1}\n"
            "  - {name: ha2, listen: [\"127.0.0.1:%d\"], backend: ha2}\n"
            "  - {name: ng1, listen: [\"127.0.0.1:%d\"], backend: ng1}\n"
            "  - {name: ng2, listen: [\"127.0.0.1:%d\"], backend: ng2}\n"
            "backends:\n"
            "  - {name: ha1, send_proxy: v1, servers: [\"127.0.0.1:%d\"],\n"
            "     health: {kind: http, path: /, interval: 200ms, timeout: 150ms, rise: 1}}\n"
            "  - {name: ha2, send_proxy: v2, servers: [\"127.0.0.1:%d\"],\n"
            "     health: {kind: http, path: /, interval: 200ms, timeout: 150ms, rise: 1}}\n"
            "  - {name: ng1, send_proxy: v1, servers: [\"127.0.0.1:%d\"]}\n"
            "  - {name: ng2, servers: [{address: \"127.0.0.1:%d\", send_proxy: v2}]}\n"
            % (k.admin_port, ports["ha1"], ports["ha2"], ports["ng1"], ports["ng2"], ha, ha, ng,
               ng))
    st = k.wait_for(lambda st: all(b["servers"][0]["check"]["checks"] >= 2
                                   for b in st["backends"][:2]), what="two checks of HAProxy")
    for b in st["backends"][:2]:  # HAProxy took the LOCAL / UNKNOWN header and answered 200
        assert b["servers"][0]["state"] == "up" and b["servers"][0]["check"]["result"] == "ok", b
    for name in ("ha1", "ha2"):
        seen, me = http_seen(ports[name])
        assert seen == [me[0], str(me[1]), "127.0.0.1", str(ports[name])], (name, seen, me)
    for name in ("ng1", "ng2"):
        seen, me = line_seen(ports[name])
        assert seen == [me[0], str(me[1]), "127.0.0.1", str(ports[name])], (name, seen, me)


@pytest.mark.parametrize("v2", [True, False], ids=["send-proxy-v2", "send-proxy"])
def test_accept_from_haproxy_pass_on_to_nginx(k3lb, peers, v2):
    """client -> HAProxy (send-proxy[-v2]) -> k3lb (accept_proxy, send_proxy v1) -> nginx
    (proxy_protocol): nginx sees the client's own address and port and the address the client
    reached on HAProxy; k3lb's access log names the client too."""
    haproxy, nginx = peers
    ng, ha_http, ha_tcp, kport = free_port(), free_port(), free_port(), free_port()
    nginx(ng)
    k = k3lb()
    k.admin_port = free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
            "  - {name: edge, listen: [\"127.0.0.1:%d\"], backend: ingress, accept_proxy: true,\n"
            "     access_log: true}\n"
            "backends:\n  - {name: ingress, send_proxy: v1, servers: [\"127.0.0.1:%d\"]}\n"
            % (k.admin_port, kport, ng))
    haproxy(ha_http, to_k3lb=(ha_tcp, kport), v2=v2)
    for _ in range(3):
        seen, me = line_seen(ha_tcp)
        assert seen == [me[0], str(me[1]), "127.0.0.1", str(ha_tcp)], (seen, me)
    wait_until(lambda: ("client=%s:%d " % me) in k.log(), 5,
               "the access log line of the last client")
    assert k.status()["frontends"][0]["bad_proxy_header"] == 0


def v1(src_port, data=b""):
    return b"PROXY TCP4 192.0.2.7 198.51.100.1 %d 443\r\n" % src_port + data


def v2_local(data=b""):
    return V2_SIG + b"\x20\x00\x00\x00" + data


def closed_without_a_byte(s, timeout=5):
    s.settimeout(timeout)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


def test_accept_proxy_is_strict(k3lb, backends):
    """A header that is bad, missing, or not whole within proxy_timeout closes the connection,
    sends the client nothing, counts it and logs it (at most a line a second); a good one of
    either version, also split across packets, passes the client's bytes on, and the
    balancing and the access log use the address it carries."""
    b = backends("echo", name="s0")
    k = k3lb()
    k.admin_port, port = free_port(), free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
            "  - {name: edge, listen: [\"127.0.0.1:%d\"], backend: pool, accept_proxy: true,\n"
            "     proxy_timeout: 300ms, access_log: true}\n"
            "backends:\n  - {name: pool, servers: [\"%s\"]}\n" % (k.admin_port, port, b.addr))
    # good: v1 and v2 LOCAL, each with data in the same packet
    with connect(port) as s:
        s.sendall(v1(40002, b"one\n"))
        assert read_line(s) == "one"
    with connect(port) as s:
        s.sendall(v2_local(b"two\n"))
        assert read_line(s) == "two"
    # good, split: the header in three pieces, then data
    with connect(port) as s:
        h = v1(40003)
        for part in (h[:3], h[3:20], h[20:]):
            s.sendall(part)
            time.sleep(0.02)  # separate packets: the reader must wait for the rest
        s.sendall(b"three\n")
        assert read_line(s) == "three"
    # the access log line is written once k3lb has seen the close: wait for it
    wait_until(lambda: "client=192.0.2.7:40003 " in k.log(), 5, "the header's client logged")
    assert "client=192.0.2.7:40002 " in k.log()
    bad = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",                 # no header at all
        b"PROXY TCP4 192.0.2.7 198.51.100.1 040001 443\r\n",  # a leading zero
        b"PROXY TCP4 192.0.2.7  198.51.100.1 1 443\r\n",      # two spaces
        V2_SIG + b"\x21\x12\x00\x0c" + b"\x00" * 12,          # UDP on a stream
        V2_SIG + b"\x21\x11\x04\x00",                          # 1040 bytes claimed
    ]
    for data in bad:
        with connect(port) as s:
            s.sendall(data)
            assert closed_without_a_byte(s), data
    for data in (b"", b"PROXY TCP4 192.0.2.7"):  # nothing, or half, then silence
        with connect(port) as s:
            t = time.monotonic()
            s.sendall(data)
            assert closed_without_a_byte(s), data
            assert 0.2 < time.monotonic() - t < 3
    n_bad = len(bad) + 2
    fr = k.wait_for(lambda st: st["frontends"][0]["bad_proxy_header"] == n_bad,
                    what="bad headers counted")["frontends"][0]
    assert fr["accept_proxy"] is True
    metrics = k.http("GET", "/metrics")[1].decode()
    assert 'k3lb_frontend_bad_proxy_header_total{frontend="edge"} %d' % n_bad in metrics
    lines = [l for l in k.log().splitlines() if "bad_proxy_header" in l]
    assert 1 <= len(lines) <= 4, lines  # at most one a second: the test takes about one
    assert "not a PROXY protocol header" in lines[0] and "127.0.0.1" in lines[0], lines
    # the echo backend never saw any of them
    with connect(port) as s:
        s.sendall(v1(40004, b"after\n"))
        assert read_line(s) == "after"


def test_send_proxy_config_errors(tmp_path):
    """Precise errors: an unknown version, and a login check that cannot send the header."""
    cfg = tmp_path / "k3lb.yaml"
    cfg.write_text("frontends:\n  - {name: f, listen: [\"127.0.0.1:1\"], backend: b}\n"
                   "backends:\n  - name: b\n    send_proxy: v3\n    servers: [\"127.0.0.1:2\"]\n")
    r = subprocess.run([BIN, "check", "-c", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 1 and "%s:5:17:" % cfg in r.stderr and "v3" in r.stderr, r.stderr
    cfg.write_text("frontends:\n  - {name: f, listen: [\"127.0.0.1:1\"], backend: b}\n"
                   "backends:\n  - name: b\n    servers:\n"
                   "      - {address: \"127.0.0.1:2\", send_proxy: v2}\n"
                   "    health: {kind: postgres, database: {user: k3lb}}\n")
    r = subprocess.run([BIN, "check", "-c", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 1 and "%s:6:" % cfg in r.stderr, r.stderr
    assert "cannot send the PROXY header" in r.stderr, r.stderr
