"""Helpers for integration tests: real k3lb and backend processes on loopback.

Readiness is never guessed with sleeps: backends serve a socket the test already listens on,
and k3lb reports READY=1 on a notify socket, as it does for its service manager.
"""
import hashlib
import http.client
import json
import os
import queue
import random
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
from contrib.lab.net import free_port, reserve_port  # noqa: E402,F401  (tests import them here)
from contrib.lab.net import wait_until  # noqa: E402
from contrib.lab.websocket import WebSocket  # noqa: E402,F401

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("K3LB_BIN", os.path.join(os.path.dirname(__file__), "../../build/k3lb"))
TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools")


def sanitized():
    """Whether BIN is the ASan+UBSan build (the suite's second pass)."""
    r = subprocess.run(["ldd", BIN], capture_output=True, text=True)
    return "libasan" in r.stdout


def addr(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


class Backend:
    """tools/backend.py in its own process, serving a socket created here."""

    def __init__(self, mode="name", name="backend", host="127.0.0.1", backlog=128, args=(),
                 port=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        lsock = socket.socket(fam, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((host, port))
        lsock.listen(backlog)
        self.host, self.port, self.name = host, lsock.getsockname()[1], name
        self.addr = addr(host, self.port)
        self.lines = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TOOLS, "backend.py"), "--fd", str(lsock.fileno()),
             "--mode", mode, "--name", name, *args],
            pass_fds=[lsock.fileno()], stdout=subprocess.PIPE, text=True)
        lsock.close()  # only the child holds it now: killing the child closes the port
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def line(self, timeout=10):
        return self.lines.get(timeout=timeout)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self):
        self.proc.send_signal(signal.SIGCONT)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def listening(port):
    def ok():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    return ok


class Peer:
    """A real HAProxy or nginx, run in the foreground with its config in the test's dir; ready
    once it accepts on every one of ports."""

    def __init__(self, cmd, ports):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for p in ports:
            wait_until(listening(p), 10, "%s on %d" % (cmd[0], p))

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ApiServer(Backend):
    """contrib/lab/apiserver.py (a K3s server's port 6443 stand-in: its supervisor and the API
    server behind it, under K3s's and kube-apiserver's rules) in its own process; its phase and
    network behaviour follow the mode file: set_mode("200" | "503" | "starting" | "hang" | ...).
    Client certificates are those signed by client_ca (by default the CA it serves)."""

    def __init__(self, workdir, cert, key, ca=None, password=None, name="api", port=0,
                 host="127.0.0.1", apiservers_file=None, agent_token=None, bootstrap_tokens=(),
                 supervisor_port=None, https_port=None, etcd_members_file=None, client_ca=None,
                 program=None, sa_tokens=(), admin_tokens=(), anonymous_paths=(), datastore=None,
                 readycheck_timeout=None, shutdown_delay=None, api_only=False, as_remote=False):
        self.mode_file = os.path.join(workdir, "mode-%s-%d" % (name, random.randrange(1 << 30)))
        self.set_mode("200")
        lsock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((host, port))
        lsock.listen(128)
        self.host, self.port, self.name = host, lsock.getsockname()[1], name
        self.addr = addr(self.host, self.port)
        self.lines = queue.Queue()
        args = ["--fd", str(lsock.fileno()), "--cert", cert, "--key", key,
                "--mode-file", self.mode_file, "--name", name]
        opt = {"--apiservers-file": apiservers_file, "--ca": ca, "--password": password,
               "--agent-token": agent_token, "--etcd-members-file": etcd_members_file,
               "--client-ca": client_ca or ca, "--program": program,
               "--etcd-readycheck-timeout": readycheck_timeout,
               "--shutdown-delay": shutdown_delay}
        for flag, value in opt.items():
            if value is not None:
                args += [flag, str(value)]
        for flag, values in (("--bootstrap-token", bootstrap_tokens), ("--sa-token", sa_tokens),
                             ("--admin-token", admin_tokens),
                             ("--anonymous-path", anonymous_paths)):
            for v in values:
                args += [flag, v]
        if datastore:  # (url, ca, cert, key) of this server's etcd member, or (tcp url,)
            args += ["--datastore", datastore[0]]
            for flag, v in zip(("--datastore-ca", "--datastore-cert", "--datastore-key"),
                               datastore[1:]):
                args += [flag, v]
        if supervisor_port:
            args += ["--supervisor-port", str(supervisor_port), "--https-port", str(https_port)]
        if api_only:
            args.append("--api-only")
        if as_remote:
            args.append("--as-remote")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TOOLS, "../../../contrib/lab/apiserver.py"), *args],
            pass_fds=[lsock.fileno()], stdout=subprocess.PIPE, text=True)
        lsock.close()

    def set_mode(self, mode):
        with open(self.mode_file, "w") as f:
            f.write(mode)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket: reaches an admin API inside any network namespace."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class K3lb:
    """A running k3lb serve; start() returns once it reported READY=1."""

    def __init__(self, workdir):
        self.dir = workdir
        self.proc = None
        self.admin_port = None
        self.admin_unix = None  # or the admin API's unix socket path
        self.admin_headers = {}  # sent when a request names none (the token, say)

    def start(self, config=None, args=(), env=None, expect_ready=True, timeout=15, command="serve",
              wrap=()):
        """wrap: a command prefix, such as `ip netns exec NS`."""
        cmd = [*wrap, BIN, command]
        if config is not None:
            path = os.path.join(self.dir, "k3lb.yaml")
            with open(path, "w") as f:
                f.write(config)
            cmd += ["-c", path]
        cmd += list(args)
        notify_path = os.path.join(self.dir, "notify-%d.sock" % random.randrange(1 << 30))
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify_path)
        full_env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        full_env.update(env or {})
        self.log_path = os.path.join(self.dir, "k3lb-%d.log" % random.randrange(1 << 30))
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env=full_env)
        if expect_ready:
            self.wait_notify("READY=1", timeout)
        return self

    def wait_notify(self, what, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("k3lb exited with %s before %s:\n%s"
                                     % (self.proc.returncode, what, self.log()))
            self.notify.settimeout(0.2)
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                continue
            if what in msg.split("\n"):
                return msg
        raise AssertionError("no %s from k3lb within %ss:\n%s" % (what, timeout, self.log()))

    def log(self):
        if not self.log_file.closed:
            self.log_file.flush()
        with open(self.log_path) as f:
            return f.read()

    def status(self, port=None):
        return json.loads(self.http("GET", "/status", port=port)[1])

    def http(self, method, path, body=None, port=None, headers=None):
        if self.admin_unix and not port:  # a k3lb in a network namespace
            c = UnixHTTPConnection(self.admin_unix)
        else:
            c = http.client.HTTPConnection("127.0.0.1", port or self.admin_port, timeout=10)
        c.request(method, path, body=body,
                  headers=self.admin_headers if headers is None else headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def server(self, address, backend=0):
        st = self.status()
        for s in st["backends"][backend]["servers"]:
            if s["address"] == address:
                return s
        raise KeyError(address)

    def wait_for(self, predicate, timeout=15, what="condition"):
        """Polls /status until predicate(status) is true: for states that change on their own
        clock (health checks), where there is no event to wait on."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if predicate(st):
                return st
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s; last status: %s\n%s"
                             % (what, json.dumps(st), self.log()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def close(self):
        """Stops k3lb the way a service manager does (a second signal skips the grace period),
        so that under sanitizers its exit-time checks run; fails on any sanitizer report."""
        if not self.proc or self.log_file.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    raise AssertionError("k3lb did not exit on SIGTERM:\n" + self.log())
        log = self.log()
        self.log_file.close()
        self.notify.close()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if marker in log:
                raise AssertionError("sanitizer report from k3lb:\n" + log)


def simple_config(listen, servers, admin_port, backend_extra="", top_extra="", health=None):
    """A one-frontend, one-backend config."""
    lines = [
        "admin: {listen: \"127.0.0.1:%d\"}" % admin_port,
        top_extra,
        "frontends:",
        "  - {name: main, listen: [%s], backend: pool}" % ", ".join('"%s"' % l for l in listen),
        "backends:",
        "  - name: pool",
        "    servers: [%s]" % ", ".join('"%s"' % s for s in servers),
    ]
    if backend_extra:
        lines += ["    " + l for l in backend_extra.strip().split("\n")]
    if health:
        lines.append("    health: {%s}" % health)
    return "\n".join(lines) + "\n"


def serve_backends(k3lb, backends_yaml, frontends=None, extra=""):
    """Starts k3lb with one frontend per backend (named like it) and the given backends."""
    k = k3lb()
    k.admin_port = free_port()
    names = [l.split("name:")[1].strip() for l in backends_yaml.split("\n")
             if l.strip().startswith("- name:")]
    fronts = frontends or "\n".join(
        "  - {name: %s, listen: [\"127.0.0.1:%d\"], backend: %s}" % (n, free_port(), n)
        for n in names)
    k.start("admin: {listen: \"127.0.0.1:%d\"}\n%s\nfrontends:\n%s\nbackends:\n%s\n"
            % (k.admin_port, extra, fronts, backends_yaml))
    return k


def servers(st, backend):
    """The servers of a backend in a /status answer."""
    for b in st["backends"]:
        if b["name"] == backend:
            return b["servers"]
    raise KeyError(backend)


def wait_server(k, backend, address, state, result=None, timeout=20):
    """Polls /status until the server is in state (and its last check had result)."""
    def ok(st):
        for s in servers(st, backend):
            if s["address"] == address:
                return s["state"] == state and (result is None or s["check"]["result"] == result)
        return False
    k.wait_for(ok, timeout=timeout, what="%s/%s %s %s" % (backend, address, state, result))
    return [s for s in servers(k.status(), backend) if s["address"] == address][0]


def from_source(port, src, timeout=10):
    """A connection from local address src (one of 127.0.0.0/8) to port, and the first line
    it was sent, or None when k3lb refused it (reset or closed)."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    try:  # the reset of a refused client can come while connect() returns
        s.connect(("127.0.0.1", port))
        line = read_line(s)
    except (ConnectionResetError, EOFError, OSError):
        line = None
    return s, line or None


class LineServer:
    """Answers each connection on (host, port) with its current line and closes: an
    agent-check agent, say. Its thread ends when close() closes the socket."""

    def __init__(self, host="127.0.0.1", port=0, line="up"):
        self.line = line
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with c:
                c.sendall((self.line + "\n").encode())

    def close(self):
        self.lsock.close()


def connect(port, host="127.0.0.1", timeout=10):
    return socket.create_connection((host, port), timeout=timeout)


def read_line(sock):
    buf = b""
    while not buf.endswith(b"\n"):
        d = sock.recv(1)
        if not d:
            break
        buf += d
    return buf.decode().strip()


def read_all(sock):
    """Everything the peer sends until it closes."""
    chunks = []
    while True:
        d = sock.recv(65536)
        if not d:
            return b"".join(chunks)
        chunks.append(d)


def ask_name(port, host="127.0.0.1", timeout=10):
    """Connects, reads the backend's name, closes."""
    with connect(port, host, timeout) as s:
        return read_line(s)


def expected_stream(seed, n):
    """sha256 of what tools/backend.py sends for (seed, n), generated in the same chunks."""
    rng, h = random.Random(seed), hashlib.sha256()
    while n:
        k = min(1 << 18, n)
        h.update(rng.randbytes(k))
        n -= k
    return h.digest()


def integrity_client(port, up_len, down_len, host="127.0.0.1", timeout=120):
    """Sends up_len random bytes and half-closes while receiving down_len bytes; checks both
    directions byte for byte (sha256) and that the FIN reached the server. Returns None or an
    error string."""
    seed_up, seed_down = random.getrandbits(63), random.getrandbits(63)
    s = connect(port, host, timeout)
    want_up = hashlib.sha256()
    err = []

    def send():
        try:
            s.sendall(struct.pack("!QQQ", up_len, down_len, seed_down))
            rng = random.Random(seed_up)
            left = up_len
            while left:
                chunk = rng.randbytes(min(1 << 18, left))
                want_up.update(chunk)
                s.sendall(chunk)
                left -= len(chunk)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append("send: %r" % e)

    t = threading.Thread(target=send)
    t.start()
    got = hashlib.sha256()
    tail = b""
    total = 0
    try:
        while True:
            d = s.recv(1 << 18)
            if not d:
                break
            total += len(d)
            # keep the last 33 bytes apart: they are the server's verdict, not data
            buf = tail + d
            got.update(buf[:-33] if len(buf) > 33 else b"")
            tail = buf[-33:] if len(buf) > 33 else buf
    except OSError as e:
        err.append("recv: %r" % e)
    t.join()
    s.close()
    if err:
        return "; ".join(err)
    if total != down_len + 33:
        return "received %d bytes, want %d" % (total, down_len + 33)
    if got.digest() != expected_stream(seed_down, down_len):
        return "server->client data differs"
    if tail[:32] != want_up.digest():
        return "client->server data differs"
    if tail[32:] != b"\x01":
        return "server did not see the client's FIN right after the data"
    return None


def dns_responder(names, silent=()):
    """A tiny DNS server on 127.0.0.1 answering A queries from names {qname: [ip, ...]}; other
    names get NXDOMAIN, and queries for names in the set silent get no answer at all."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                q, peer = sock.recvfrom(512)
            except OSError:
                return
            qid, flags = struct.unpack("!HH", q[:4])
            i, labels = 12, []
            while q[i]:
                labels.append(q[i + 1:i + 1 + q[i]].decode())
                i += 1 + q[i]
            qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
            if ".".join(labels).lower() in silent:
                continue
            question = q[12:i + 5]
            ips = names.get(".".join(labels).lower(), []) if qtype == 1 else []
            rcode = 0 if ".".join(labels).lower() in names else 3
            ans = b"".join(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 1, 4) + socket.inet_aton(ip)
                           for ip in ips)
            sock.sendto(struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(ips), 0, 0)
                        + question + ans, peer)
    threading.Thread(target=serve, daemon=True).start()
    return sock


class ConnectProxy:
    """An HTTP forward proxy on 127.0.0.1 that only tunnels (CONNECT), as corporate proxies in
    front of K3s servers do: names maps host names to addresses (it resolves them, the client
    does not); with auth ("Basic ..."), a request without it gets 407. It records every CONNECT
    target and Proxy-Authorization seen; a target that refuses gets 502."""

    def __init__(self, names=None, auth=None):
        self.names, self.auth = names or {}, auth
        self.targets, self.auths = [], []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            d = c.recv(1)  # byte by byte: nothing after the request is taken
            if not d:
                c.close()
                return
            head += d
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        self.targets.append(target)
        self.auths.append(hdrs.get("proxy-authorization"))
        if method != "CONNECT":
            c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            c.close()
            return
        if self.auth and hdrs.get("proxy-authorization") != self.auth:
            c.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                      b"Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
            c.close()
            return
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        try:
            up = socket.create_connection((self.names.get(host, host), int(port)), timeout=5)
        except OSError:
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            c.close()
            return
        up.settimeout(None)
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        threading.Thread(target=pipe, args=(up, c), daemon=True).start()
        pipe(c, up)

    def close(self):
        self.sock.close()


def https_get(port, path, ca, auth=None, host="127.0.0.1", timeout=10):
    """One HTTPS GET with Connection: close: (status, body)."""
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            head = "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % path
            if auth:
                head += "Authorization: %s\r\n" % auth
            s.sendall((head + "\r\n").encode())
            data = read_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):
        raise ConnectionError("closed before answering")
    return int(head.split()[1]), body.decode()


class KubectlLoop:
    """kubectl through a balancer, one run after another in a thread until finish(), each run
    kept as (start time, ok, the end of its stderr): it reads a namespace, which the API server
    reads from its datastore. Bounded at 5,000 runs."""

    def __init__(self, workdir, port, ca, token, timeout="3s"):
        self.kubeconfig = os.path.join(workdir, "kubeconfig-%d" % port)
        with open(self.kubeconfig, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "k3lb",
                       "clusters": [{"name": "k3lb", "cluster": {
                           "server": "https://127.0.0.1:%d" % port,
                           "certificate-authority": ca}}],
                       "users": [{"name": "admin", "user": {"token": token}}],
                       "contexts": [{"name": "k3lb", "context": {"cluster": "k3lb",
                                                                 "user": "admin"}}]}, f)
        self.timeout = timeout
        self.runs, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.is_set() and len(self.runs) < 5000:
            t = time.monotonic()
            r = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "get", "--raw",
                                "/api/v1/namespaces/default", "--request-timeout", self.timeout],
                               capture_output=True, text=True)
            ok = r.returncode == 0 and '"name":"default"' in r.stdout
            self.runs.append((t, ok, r.stderr.strip()[-200:]))

    def finish(self):
        self.stop.set()
        self.thread.join(30)
        return self.runs


class Prober:
    """tools/prober.py in a network namespace (a new connection to address every 20 ms), its
    lines collected with their clock (CLOCK_MONOTONIC, the same in every namespace)."""

    def __init__(self, lab, host, address):
        self.lines = queue.Queue()
        self.seen = []
        self.proc = lab.popen(host, [sys.executable, os.path.join(TOOLS, "prober.py"),
                                     address], stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            t, ok, what = line.strip().split(" ", 2)
            self.lines.put((float(t), ok == "ok", what))

    def drain(self):
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def after(self, t0):
        self.drain()
        return [e for e in self.seen if e[0] >= t0]

    def wait_ok(self, t0, n=10, timeout=20):
        """Until n successes in a row after t0; returns the attempts since t0."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ev = self.after(t0)
            tail = ev[-n:]
            if len(tail) == n and all(ok for _, ok, _ in tail):
                return ev
            time.sleep(0.05)
        raise AssertionError("no %d successes in a row through the VIP within %ss: %s"
                             % (n, timeout, self.after(t0)[-5:]))


class Holder:
    """tools/holder.py in a network namespace: count long-lived connections to address, each
    known by the balancer that carried it (a backend.py --mode peer names it)."""

    def __init__(self, lab, host, address, count=30):
        self.open, self.lost, self.count = {}, [], count
        self.proc = lab.popen(host, [sys.executable, os.path.join(TOOLS, "holder.py"), address,
                                     "--count", str(count)], stdout=subprocess.PIPE, text=True)
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ready.wait(20), "the long-lived connections did not open"

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if parts[1] == "open":
                self.open[parts[2]] = parts[3]
                if len(self.open) == self.count:
                    self.ready.set()
            elif parts[1] == "lost":  # (when, through which balancer, why)
                self.lost.append((float(parts[0]), parts[3], parts[4]))

    def close(self):
        self.proc.kill()
        self.proc.wait()


def outage(events, t0):
    """(seconds from t0 until the attempt that ended the last failure, failed attempts)."""
    fails = [e for e in events if not e[1]]
    if not fails:
        return 0.0, 0
    last = fails[-1][0]
    end = next(t for t, ok, _ in events if ok and t > last)
    return end - t0, len(fails)


def stop_pid(pid, timeout=20):
    """SIGTERM to a process that is not our child, then wait until it is gone."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
        time.sleep(0.05)
