#!/usr/bin/env python3
"""A stand-in for a K3s server's port 6443 (there is no kube-apiserver binary here): a TLS HTTP
server answering /readyz, /livez, /healthz, /ping, /cacerts, /v1-k3s/readyz, /v1-k3s/apiservers,
/v1-k3s/config, /db/info, /name (which server this is) and /v1-k3s/connect, a websocket (RFC 6455) that
first sends the server's name, then echoes every frame, like an agent's tunnel.

It enforces K3s's own rules for the supervisor routes, as read in the K3s source:
- users (pkg/daemons/control/deps/deps.go, genUsers): "server" with the server password is in
  group k3s:server; "node" with the agent token (the server password when no separate agent
  token is set) is in group k3s:agent; a bootstrap token "id.secret" sent as Bearer is in
  system:bootstrappers. Credentials that match no one: 401. A bare token is a password
  (pkg/clientaccess/token.go, parseToken).
- /v1-k3s/readyz, /apiservers, /config (pkg/server/handlers/router.go) need one of k3s:agent,
  system:nodes, system:bootstrappers: user "server" gets 403. At most 20 such requests in
  flight (maxNonMutatingAgentRequests); beyond that 429 with Retry-After, as the apiserver's
  max-in-flight filter answers.
- /v1-k3s/apiservers answers in random order (a set's UnsortedList, handlers.go); /readyz answers
  503 while the server's core is not ready (handlers.go, Readyz).
- /db/info (pkg/etcd/etcd.go, infoHandler: the etcd member list as {"members": [{"name",
  "peerURLs", "clientURLs", "isLearner"}]}) sits behind the k3s:server role (the serverAuthed
  router of router.go): only user "server" with the server password; anyone else gets 403. It
  is not under the agents' in-flight limit.
- /cacerts and /ping need nothing.

Its behaviour is switched at run time through --mode-file (read on every request):
  200 (or no file)  healthy
  503               /readyz, /livez, /healthz and /v1-k3s/readyz answer 503
  401               every path answers 401
  hang              accept and never answer
  slow              supervisor routes take 2 s (to fill the in-flight limit)
  429               supervisor routes answer 429, as when 20 are in flight
  drop              every answer, then the connection closes without a word
"""
import argparse
import base64
import hashlib
import struct
import json
import os
import random
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B65"


def ws_read_frame(sock):
    """One frame (opcode, payload) from a client; client frames are masked."""
    def exact(n):
        buf = b""
        while len(buf) < n:
            d = sock.recv(n - len(buf))
            if not d:
                raise EOFError
            buf += d
        return buf
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    mask = exact(4) if b1 & 0x80 else b"\0\0\0\0"
    data = bytes(c ^ mask[i % 4] for i, c in enumerate(exact(n)))
    return b0 & 0x0F, data


def ws_frame(opcode, data):
    """A server frame (unmasked)."""
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + data


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.lock:  # one accepted connection is one TLS handshake
            self.server.requests["connections"] = self.server.requests.get("connections", 0) + 1

    def log_message(self, fmt, *args):
        pass

    def _mode(self):
        try:
            with open(self.server.opts.mode_file) as f:
                return f.read().strip() or "200"
        except (OSError, TypeError):
            return "200"

    def _send(self, code, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self._mode() == "drop":  # close without saying so, as an idle timeout does
            self.close_connection = True

    def _groups(self):
        """The groups of whoever sent the request, or None when the credentials match no
        one (K3s's password file and bootstrap tokens)."""
        o = self.server.opts
        h = self.headers.get("Authorization", "")
        if h.startswith("Bearer "):
            return ["system:bootstrappers"] if h[7:] in o.bootstrap_token else None
        if not h.startswith("Basic "):
            return None
        try:
            user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
        except ValueError:
            return None
        if user == "server" and pw == o.password:
            return ["k3s:server"]
        if user == "node" and pw == (o.agent_token or o.password):
            return ["k3s:agent"]
        return None

    def _refused(self):
        """router.go's "authed" routes: answers 401 or 403 and returns True, or returns False
        when the caller may go on. With no credentials configured, anyone may."""
        if not self.server.opts.password and not self.server.opts.bootstrap_token:
            return False
        groups = self._groups()
        if groups is None:
            self._send(401, '{"kind":"Status","code":401,"reason":"Unauthorized"}',
                       "application/json")
            return True
        if not set(groups) & {"k3s:agent", "system:nodes", "system:bootstrappers"}:
            self._send(403, '{"kind":"Status","code":403,"reason":"Forbidden"}',
                       "application/json")
            return True
        return False

    def _db_info(self):
        """/db/info for k3s:server only; members from --etcd-members(-file), a learner
        marked with a leading '~'."""
        groups = self._groups()
        if groups is None:
            return self._send(401, '{"kind":"Status","code":401,"reason":"Unauthorized"}',
                              "application/json")
        if "k3s:server" not in groups:
            return self._send(403, '{"kind":"Status","code":403,"reason":"Forbidden"}',
                              "application/json")
        o = self.server.opts
        with self.server.lock:
            self.server.requests["/db/info"] = self.server.requests.get("/db/info", 0) + 1
        text = o.etcd_members
        if o.etcd_members_file:
            try:
                with open(o.etcd_members_file) as f:
                    text = f.read().strip()
            except OSError:
                text = ""
        members = []
        for i, url in enumerate(x for x in text.split(",") if x):
            learner = url.startswith("~")
            url = url.lstrip("~")
            host = url.split("://", 1)[-1].rsplit(":", 1)[0]
            m = {"ID": 1000 + i, "name": "member-%d" % i,
                 "peerURLs": ["https://%s:2380" % host], "clientURLs": [url]}
            if learner:
                m["isLearner"] = True
            members.append(m)
        return self._send(200, json.dumps({"members": members}), "application/json")

    def _agent_request(self, handler):
        """Runs handler under the in-flight limit of 20."""
        with self.server.lock:
            if self.server.in_flight >= 20:
                busy = True
            else:
                busy = False
                self.server.in_flight += 1
            self.server.requests[self.path.split("?")[0]] = \
                self.server.requests.get(self.path.split("?")[0], 0) + 1
            if not getattr(self, "counted", False):  # connections that carried agent routes
                self.counted = True
                self.server.requests["agent_connections"] = \
                    self.server.requests.get("agent_connections", 0) + 1
        if busy or self._mode() == "429":
            if not busy:
                with self.server.lock:
                    self.server.in_flight -= 1
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        try:
            if self._mode() == "slow":
                time.sleep(2)
            return handler()
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            return self._send(400, "websocket upgrade expected")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        sock = self.connection
        sock.sendall(ws_frame(1, self.server.opts.name.encode()))
        try:
            while True:
                op, data = ws_read_frame(sock)
                if op == 8:
                    sock.sendall(ws_frame(8, data))
                    break
                if op == 9:
                    sock.sendall(ws_frame(10, data))
                else:
                    sock.sendall(ws_frame(op, data))
        except (EOFError, OSError):
            pass
        self.close_connection = True

    def _apiservers(self):
        o = self.server.opts
        if o.apiservers_file:
            try:
                with open(o.apiservers_file) as f:
                    text = f.read().strip()
                return [x for x in text.split(",") if x]
            except OSError:
                return []
        return o.apiservers.split(",") if o.apiservers else []

    def do_GET(self):
        mode = self._mode()
        if mode == "hang":
            time.sleep(3600)
            return
        if mode == "401":
            return self._send(401, '{"kind":"Status","code":401,"reason":"Unauthorized"}',
                              "application/json")
        path = self.path.split("?")[0]
        if path in ("/readyz", "/livez", "/healthz"):
            return self._send(503, "[-]etcd failed: reason withheld\n") if mode == "503" \
                else self._send(200, "ok")
        if path == "/ping":
            return self._send(200, "pong")
        if path == "/name":
            return self._send(200, self.server.opts.name)
        if path == "/v1-k3s/connect":
            return self._websocket()
        if path == "/cacerts":
            with open(self.server.opts.ca) as f:
                return self._send(200, f.read())
        if path == "/stats":  # the test's own view: requests served per path
            with self.server.lock:
                return self._send(200, json.dumps(self.server.requests), "application/json")
        if path == "/db/info":
            return self._db_info()
        if path in ("/v1-k3s/readyz", "/v1-k3s/apiservers", "/v1-k3s/config"):
            if self._refused():
                return None
            return self._agent_request(lambda: self._supervisor(path, mode))
        return self._send(404, "not found")

    def _supervisor(self, path, mode):
        o = self.server.opts
        if path == "/v1-k3s/readyz":
            return self._send(503, "core not ready") if mode == "503" else self._send(200, "ok")
        if path == "/v1-k3s/config":
            return self._send(200, json.dumps({"SupervisorPort": o.supervisor_port,
                                               "HTTPSPort": o.https_port}), "application/json")
        servers = self._apiservers()
        random.shuffle(servers)
        return self._send(200, json.dumps(servers), "application/json")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fd", type=int, help="inherited listening socket")
    p.add_argument("--listen", help="host:port to listen on instead")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", help="CA served at /cacerts")
    p.add_argument("--mode-file")
    p.add_argument("--password", help="the server password (K3s's token file)")
    p.add_argument("--agent-token", help="a separate agent token (K3s --agent-token)")
    p.add_argument("--bootstrap-token", action="append", default=[],
                   help="a valid bootstrap token id.secret (repeatable)")
    p.add_argument("--supervisor-port", type=int, default=6443, help="for /v1-k3s/config")
    p.add_argument("--https-port", type=int, default=6443, help="for /v1-k3s/config")
    p.add_argument("--apiservers", default="", help="comma list for /v1-k3s/apiservers")
    p.add_argument("--apiservers-file", help="file with that list, read on every request")
    p.add_argument("--etcd-members", default="",
                   help="comma list of etcd client URLs for /db/info (~ marks a learner)")
    p.add_argument("--etcd-members-file", help="file with that list, read on every request")
    p.add_argument("--name", default="server", help="answered by /name and the websocket")
    opts = p.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    srv.socket.close()
    if opts.fd is not None:
        sock = socket.socket(fileno=opts.fd)
    else:
        host, _, port = opts.listen.rpartition(":")
        sock = socket.create_server((host.strip("[]"), int(port)),
                                    family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    srv.socket = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    srv.opts = opts
    srv.lock = threading.Lock()
    srv.in_flight = 0
    srv.requests = {}
    srv.daemon_threads = True
    # A TLS handshake happens in the handler thread (first read), so one slow client cannot
    # hold up the accept loop.
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
