#!/usr/bin/env python3
"""A stand-in for one K3s server's port 6443 (there is no K3s or kube-apiserver binary here):
the supervisor's routes, and behind them the API server's, over TLS. It also answers /name
(which server this is) and /stats (requests per path), the lab's own views.

Every rule it enforces is K3s's or kube-apiserver's, read in their source:
  K  k3s-io/k3s master, read as mirrored in github.com/vitorsavian/k3s at
     866d743e56ecec4a7a9860a22f9930afa39ff722 (2026-08-12; k3s-io/k3s 3f5eec4c is an ancestor)
  A  kubernetes/apiserver v0.36.3, 72f5171bff564be05f1011ccef0233a2ea76ebb4 (Kubernetes 1.36)

Supervisor (port 6443 of K3s; 9345 of RKE2 with --program rke2):
- Phases (mode file): "starting" answers everything 503 "starting" (K pkg/cluster/https.go:107);
  "503" is a server whose core has not started: /v1-k3s/readyz 503 "runtime core not ready"
  (K pkg/server/handlers/handlers.go:188-200) and every path it passes on to the API server 503
  "apiserver not ready" (handlers.go:146-159); "200" is a running server.
- Routers, each handing what it does not match to the next (K pkg/server/handlers/router.go:
  30-75): /cacerts and /ping for anyone (66-70); /v1-<program>/connect for system:nodes (47-50);
  the encrypt, token and bootstrap routes for <program>:server (52-59); /v1-<program>/readyz,
  /apiservers, /config and the certificate routes for <program>:agent, system:nodes or
  system:bootstrappers, at most 20 at once (34-45, 26), beyond that 429 with Retry-After;
  anything else goes to the API server (35), unauthenticated by the supervisor (middleware runs
  only on a matched route, K pkg/util/mux/mux.go:106-120).
- Users (K pkg/daemons/control/deps/deps.go:234-272): "server" (group <program>:server) with the
  server token's password; "node" (group <program>:agent) with the agent token's password, which
  is the server token's when there is no --agent-token (getNodePass, 234-242); a K10...::user:
  prefix is stripped from either (K pkg/passwd/passwd.go:62-67).
- Authentication (K pkg/server/auth/auth.go:39-66): an authenticator error is 401 "not
  authorized", no one recognised or none of the route's groups 403 "forbidden". Basic auth with
  a wrong password or an unknown user is an error (K pkg/authenticator/basicauth/basicauth.go:
  36-52); no Authorization header recognises no one. A client certificate signed by --client-ca
  is its CN in the groups of its O (x509 CommonNameUserConversion, K pkg/authenticator/
  authenticator.go:26-33). Bearer tokens are known only once the API server is up (its
  authenticator joins, K pkg/daemons/control/server.go:439-445): then an unknown one is an error
  ("invalid bearer token", A pkg/authentication/request/bearertoken/bearertoken.go:40), a known
  bootstrap token is in system:bootstrappers, a ServiceAccount token in
  system:serviceaccounts; before, a bearer token recognises no one (403).
- Errors are a Status JSON with Connection: close (K pkg/util/apierrors.go:48-65).
- /v1-k3s/apiservers answers in random order (a set's UnsortedList). /db/info (K
  pkg/etcd/etcd.go:729-771) lists --etcd-members to callers from 127.0.0.1 or ::1 without
  credentials and to <program>:server otherwise (IsLocalOrHasRole, K pkg/server/auth/auth.go:
  80-91); with a kine datastore it answers 400 "etcd datastore disabled" (K
  pkg/cluster/managed.go:71-77). The lab runs every machine on loopback: --as-remote treats
  every caller as another machine, as an agent's is.

API server (what the supervisor passes on, or its own port with --api-only):
- It runs with --anonymous-auth=false unless an AuthenticationConfiguration is given
  (K pkg/daemons/control/server.go:221-225): without credentials 401 Status "Unauthorized"
  (A pkg/endpoints/filters/authentication.go:148); --anonymous-path admits anonymous requests to
  exactly that path (A pkg/authentication/request/anonymous/anonymous.go:37). It knows no basic
  auth: a K3s token is 401 there.
- /readyz, /livez, /healthz and /version are readable by everyone it authenticates and by
  anonymous users (the system:public-info-viewer binding); the kubernetes EndpointSlice of the
  default namespace (the --apiservers, on their ports) by system:k3s-controller, the identity
  of an agent's controller (its client-k3s-controller certificate), which watches it for its
  tunnels; other paths need the system:masters group (a client certificate of the admin, as
  K3s's kubeconfig holds) or --admin-token.
- /readyz (A pkg/server/healthz/healthz.go:280-330): 200 "ok" when every check passes, else 500
  with one "[+]name ok" or "[-]name failed: reason withheld" line per check and "readyz check
  failed"; ?verbose lists the checks on success too. Checks: ping, log, etcd, etcd-readiness
  (A pkg/server/options/etcd.go:359-369: the datastore answering within
  --etcd-readycheck-timeout), informer-sync, poststarthook/start-apiserver-admission-initializer,
  shutdown (healthz.go:117-133: failing from the stop signal on).
- SIGTERM starts the shutdown: for --shutdown-delay seconds /readyz fails its shutdown check
  while everything is served as before (A pkg/server/genericapiserver.go:569-581); then the
  listener closes and requests in flight finish before the process exits.
- --datastore https://host:port is a real etcd member (the embedded etcd member of this server):
  its /health is asked for the etcd checks, and namespaces are read from it
  (/registry/namespaces/NAME through etcd's JSON gateway); tcp://host:port is a datastore behind
  kine (PostgreSQL, MariaDB): it must accept a connection.

Network modes (mode file): hang (accept, never answer), slow (supervisor routes take 2 s, to
fill the in-flight limit), 429 (supervisor routes answer 429), drop (every answer, then the
connection closes without a word).
"""
import argparse
import base64
import hashlib
import json
import os
import random
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B65"
PUBLIC_INFO = ("/readyz", "/livez", "/healthz", "/version")
READYZ_CHECKS = ("ping", "log", "etcd", "etcd-readiness", "informer-sync",
                 "poststarthook/start-apiserver-admission-initializer", "shutdown")


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


def password_of(token):
    """The password K3s keeps for a token: a K10...::user: prefix stripped (passwd.go)."""
    if token and token.startswith("K10") and "::" in token:
        creds = token.split("::", 1)[1]
        return creds.split(":", 1)[1] if ":" in creds else creds
    return token


class AuthError(Exception):
    """An authenticator failed: the supervisor answers 401."""


class Datastore:
    """The API server's storage: a real etcd member (https://) or a kine backend (tcp://)."""

    def __init__(self, url, ca, cert, key, timeout):
        self.url, self.timeout = url, timeout
        self.ctx = None
        if url and url.startswith("https://"):
            self.ctx = ssl.create_default_context(cafile=ca)
            if cert:
                self.ctx.load_cert_chain(cert, key)

    def healthy(self):
        if not self.url:
            return True
        try:
            if self.ctx is None:  # kine: the database accepts a connection
                host, _, port = self.url.split("://", 1)[1].rpartition(":")
                socket.create_connection((host, int(port)), timeout=self.timeout).close()
                return True
            with urllib.request.urlopen(self.url + "/health", context=self.ctx,
                                        timeout=self.timeout) as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def get(self, key):
        """The value at key (bytes), None when absent; OSError when etcd does not answer."""
        if self.ctx is None:
            return None
        body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
        req = urllib.request.Request(self.url + "/v3/kv/range", data=body, method="POST")
        with urllib.request.urlopen(req, context=self.ctx, timeout=self.timeout) as r:
            kvs = json.loads(r.read()).get("kvs", [])
        return base64.b64decode(kvs[0]["value"]) if kvs else None

    def put(self, key, value):
        body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                           "value": base64.b64encode(value).decode()}).encode()
        req = urllib.request.Request(self.url + "/v3/kv/put", data=body, method="POST")
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            r.read()


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

    def _send(self, code, body, ctype="text/plain; charset=utf-8", close=False, headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        if self._mode() == "drop":  # close without saying so, as an idle timeout does
            self.close_connection = True

    def _status(self, code, reason, message, close=True):
        """A Status, as K3s's SendError and kube-apiserver's ErrorNegotiated write it."""
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Failure", "message": message, "reason": reason,
                           "code": code})
        return self._send(code, body, "application/json", close=close)

    # ---- who is asking --------------------------------------------------------------------

    def _user(self):
        """(name, groups) of the request, None when no one is recognised; AuthError when an
        authenticator fails. The union of K3s's authenticators, and kube-apiserver's once it is
        up."""
        o, srv = self.server.opts, self.server
        h = self.headers.get("Authorization", "")
        if h.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
            except ValueError:
                raise AuthError("invalid username/password combination")
            if user == "server" and pw == srv.server_pw:
                return "server", [o.program + ":server", "system:authenticated"]
            if user == "node" and pw == srv.node_pw:
                return "node", [o.program + ":agent", "system:authenticated"]
            raise AuthError("invalid username/password combination")
        cert = self._cert_user()
        if cert:
            return cert
        if h.startswith("Bearer ") and self._mode() not in ("503", "starting"):
            token = h[7:]
            if token in o.bootstrap_token:
                return ("system:bootstrap:" + token.split(".")[0],
                        ["system:bootstrappers", "system:authenticated"])
            if token in o.sa_token:
                return ("system:serviceaccount:kube-system:k3lb",
                        ["system:serviceaccounts", "system:authenticated"])
            if token in o.admin_token:
                return "admin", ["system:masters", "system:authenticated"]
            raise AuthError("invalid bearer token")
        return None

    def _cert_user(self):
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            return None
        if not cert:
            return None
        name = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
        groups = [v for rdn in cert.get("subject", ()) for k, v in rdn
                  if k == "organizationName"]
        return (name[0] if name else ""), groups + ["system:authenticated"]

    def _has_role(self, roles):
        """auth.HasRole: True when the caller may go on, else the 401 or 403 is sent."""
        try:
            who = self._user()
        except AuthError:
            self._status(401, "Unauthorized", "not authorized")
            return False
        if who is None or not set(who[1]) & set(roles):
            self._status(403, "Forbidden", "forbidden")
            return False
        return True

    # ---- supervisor -----------------------------------------------------------------------

    def _route(self, path):
        p = "/v1-" + self.server.opts.program
        if path in ("/cacerts", "/ping") or path.startswith("/static/"):
            return "open"
        if path == p + "/connect":
            return "nodes"
        if path in (p + "/encrypt/status", p + "/encrypt/config", p + "/cert/cacerts",
                    p + "/server-bootstrap", p + "/token", "/db/info"):
            return "server"
        if path in (p + "/readyz", p + "/apiservers", p + "/config", p + "/serving-kubelet.crt",
                    p + "/client-kubelet.crt", p + "/client-kube-proxy.crt",
                    p + "/client-%s-controller.crt" % self.server.opts.program,
                    p + "/client-ca.crt", p + "/server-ca.crt"):
            return "agent"
        return "apiserver"

    def do_GET(self):
        mode = self._mode()
        if mode == "hang":
            time.sleep(3600)
            return
        path = self.path.split("?")[0]
        if path == "/name":
            return self._send(200, self.server.opts.name)
        if path == "/stats":
            with self.server.lock:
                return self._send(200, json.dumps(self.server.requests), "application/json")
        if self.server.opts.api_only:
            return self._apiserver(path, mode)
        if mode == "starting":
            return self._status(503, "ServiceUnavailable", "starting")
        route = self._route(path)
        if route == "open":
            if path == "/ping":
                return self._send(200, "pong")
            with open(self.server.opts.ca, "rb") as f:
                return self._send(200, f.read())
        if route == "nodes":
            if self._has_role(["system:nodes"]):
                return self._websocket()
            return None
        if route == "server":
            if path == "/db/info" and self._local():
                return self._db_info()
            if self._has_role([self.server.opts.program + ":server"]):
                return self._db_info() if path == "/db/info" else self._send(200, "{}")
            return None
        if route == "agent":
            roles = [self.server.opts.program + ":agent", "system:nodes", "system:bootstrappers"]
            if self._has_role(roles):
                return self._agent_request(lambda: self._supervisor(path, mode))
            return None
        if mode == "503":
            return self._status(503, "ServiceUnavailable", "apiserver not ready")
        return self._apiserver(path, mode)

    def _agent_request(self, handler):
        """Runs handler under the in-flight limit of 20."""
        with self.server.lock:
            busy = self.server.in_flight >= 20
            if not busy:
                self.server.in_flight += 1
            key = self.path.split("?")[0]
            self.server.requests[key] = self.server.requests.get(key, 0) + 1
            if not getattr(self, "counted", False):  # connections that carried agent routes
                self.counted = True
                self.server.requests["agent_connections"] = \
                    self.server.requests.get("agent_connections", 0) + 1
        if busy or self._mode() == "429":
            if not busy:
                with self.server.lock:
                    self.server.in_flight -= 1
            return self._send_429()
        try:
            if self._mode() == "slow":
                time.sleep(2)
            return handler()
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _send_429(self):
        """The max-in-flight filter's answer: retry after a second."""
        self.send_response(429)
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _supervisor(self, path, mode):
        o = self.server.opts
        if path.endswith("/readyz"):
            if mode == "503":
                return self._status(503, "ServiceUnavailable", "runtime core not ready")
            return self._send(200, "ok")
        if path.endswith("/config"):
            return self._send(200, json.dumps({"SupervisorPort": o.supervisor_port,
                                               "HTTPSPort": o.https_port}), "application/json")
        if path.endswith("/apiservers"):
            servers = self._apiservers()
            random.shuffle(servers)
            return self._send(200, json.dumps(servers), "application/json")
        return self._send(200, "")  # certificates: not modelled

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

    def _local(self):
        """A caller K3s takes as local: its address is exactly 127.0.0.1 or ::1."""
        return not self.server.opts.as_remote and self.client_address[0] in ("127.0.0.1", "::1")

    def _db_info(self):
        """The etcd member list, {"members": [{"name", "peerURLs", "clientURLs",
        "isLearner"}]}; a learner marked with a leading '~' in --etcd-members."""
        o = self.server.opts
        if self.server.store.url and self.server.store.ctx is None:
            return self._status(400, "BadRequest", "etcd datastore disabled")
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
                sock.sendall(ws_frame(10, data) if op == 9 else ws_frame(op, data))
        except (EOFError, OSError):
            pass
        self.close_connection = True

    # ---- API server -----------------------------------------------------------------------

    def _apiserver(self, path, mode):
        o = self.server.opts
        try:
            who = self._user()
        except AuthError:
            who = False
        if who and who[0] in ("server", "node"):
            who = False  # the supervisor's password file is not kube-apiserver's
        if who is None and path in o.anonymous_path:
            who = ("system:anonymous", ["system:unauthenticated"])
        if not who:
            return self._status(401, "Unauthorized", "Unauthorized", close=False)
        with self.server.lock:
            self.server.requests["api " + path] = self.server.requests.get("api " + path, 0) + 1
        if path in ("/livez", "/healthz"):
            return self._send(200, "ok")
        if path == "/readyz":
            return self._readyz()
        if path == "/version":
            return self._send(200, json.dumps({"major": "1", "minor": "36",
                                               "gitVersion": "v1.36.3+k3s1"}),
                              "application/json")
        if path == "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices" and \
                (who[0] == "system:k3s-controller" or "system:masters" in who[1]):
            return self._endpointslices()
        if "system:masters" not in who[1]:
            return self._status(403, "Forbidden", 'forbidden: User "%s" cannot get path "%s"'
                                % (who[0], path), close=False)
        prefix = "/api/v1/namespaces/"
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            return self._namespace(path[len(prefix):])
        return self._status(404, "NotFound", "the server could not find the requested resource",
                            close=False)

    def _endpointslices(self):
        """The kubernetes service's EndpointSlice: the API servers, ready, on their port."""
        servers = self._apiservers()
        ports = {x.rpartition(":")[2] for x in servers}
        item = {"metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"kubernetes.io/service-name": "kubernetes"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [x.rpartition(":")[0].strip("[]")],
                               "conditions": {"ready": True}} for x in servers],
                "ports": [{"name": "https", "port": int(p), "protocol": "TCP"} for p in ports]}
        return self._send(200, json.dumps({"kind": "EndpointSliceList", "apiVersion":
                                           "discovery.k8s.io/v1", "items": [item]}),
                          "application/json")

    def _readyz(self):
        failed = set()
        if not self.server.store.healthy():
            failed |= {"etcd", "etcd-readiness"}
        if self.server.shutting_down.is_set():
            failed.add("shutdown")
        verbose = "verbose" in self.path.split("?", 1)[-1] if "?" in self.path else False
        lines = "".join("[-]%s failed: reason withheld\n" % c if c in failed else "[+]%s ok\n" % c
                        for c in READYZ_CHECKS)
        if failed:
            return self._send(500, lines + "readyz check failed\n",
                              headers=[("X-Content-Type-Options", "nosniff")])
        return self._send(200, lines + "readyz check passed\n" if verbose else "ok")

    def _namespace(self, name):
        store = self.server.store
        try:
            value = store.get("/registry/namespaces/" + name) if store.ctx else \
                (b'{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"%s"}}'
                 % name.encode() if name == "default" and store.healthy() else None)
            if value is None and not store.ctx and not store.healthy():
                raise OSError("datastore unreachable")
        except OSError:
            return self._status(504, "Timeout", "Timeout: request did not complete within "
                                "requested timeout - context deadline exceeded", close=False)
        if value is None:
            return self._status(404, "NotFound", 'namespaces "%s" not found' % name, close=False)
        return self._send(200, value, "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that went away mid-answer (a probe's deadline) is no server error."""
        if not isinstance(sys.exc_info()[1], (OSError, EOFError)):
            super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fd", type=int, help="inherited listening socket")
    p.add_argument("--listen", help="host:port to listen on instead")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", help="CA served at /cacerts")
    p.add_argument("--client-ca", help="CA of client certificates (K3s's client-ca.crt)")
    p.add_argument("--mode-file")
    p.add_argument("--program", default="k3s", choices=["k3s", "rke2"],
                   help="route prefix /v1-<program>/ and group names")
    p.add_argument("--password", help="the server token (K3s --token); a random one if none")
    p.add_argument("--agent-token", help="a separate agent token (K3s --agent-token)")
    p.add_argument("--bootstrap-token", action="append", default=[],
                   help="a valid bootstrap token id.secret (repeatable)")
    p.add_argument("--sa-token", action="append", default=[],
                   help="a valid ServiceAccount token for the API server (repeatable)")
    p.add_argument("--admin-token", action="append", default=[],
                   help="a token of a system:masters user (repeatable)")
    p.add_argument("--anonymous-path", action="append", default=[],
                   help="a path anonymous requests may use (AuthenticationConfiguration)")
    p.add_argument("--api-only", action="store_true",
                   help="serve the API server's routes only (RKE2's kube-apiserver on 6443)")
    p.add_argument("--datastore", help="https://etcd-member or tcp://host:port (kine)")
    p.add_argument("--datastore-ca")
    p.add_argument("--datastore-cert")
    p.add_argument("--datastore-key")
    p.add_argument("--etcd-readycheck-timeout", type=float, default=2.0)
    p.add_argument("--shutdown-delay", type=float, default=0.0,
                   help="kube-apiserver --shutdown-delay-duration, seconds")
    p.add_argument("--supervisor-port", type=int, default=6443, help="for /v1-k3s/config")
    p.add_argument("--https-port", type=int, default=6443, help="for /v1-k3s/config")
    p.add_argument("--apiservers", default="", help="comma list for /v1-k3s/apiservers")
    p.add_argument("--apiservers-file", help="file with that list, read on every request")
    p.add_argument("--etcd-members", default="",
                   help="comma list of etcd client URLs for /db/info (~ marks a learner)")
    p.add_argument("--etcd-members-file", help="file with that list, read on every request")
    p.add_argument("--name", default="server", help="answered by /name and the websocket")
    p.add_argument("--as-remote", action="store_true",
                   help="take every caller as another machine (not K3s's local 127.0.0.1/::1)")
    opts = p.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    if opts.client_ca:  # asked for, not required (tls.RequestClientCert, K pkg/cluster/https.go)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(opts.client_ca)
    srv = Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
    srv.socket.close()
    if opts.fd is not None:
        sock = socket.socket(fileno=opts.fd)
    else:
        host, _, port = opts.listen.rpartition(":")
        sock = socket.create_server((host.strip("[]"), int(port)),
                                    family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    srv.socket = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    srv.opts = opts
    srv.server_pw = password_of(opts.password) or os.urandom(16).hex()
    srv.node_pw = password_of(opts.agent_token) or srv.server_pw
    srv.store = Datastore(opts.datastore, opts.datastore_ca, opts.datastore_cert,
                          opts.datastore_key, opts.etcd_readycheck_timeout)
    if srv.store.ctx:
        try:  # what kube-apiserver creates at its first start
            if srv.store.get("/registry/namespaces/default") is None:
                srv.store.put("/registry/namespaces/default",
                              b'{"kind":"Namespace","apiVersion":"v1",'
                              b'"metadata":{"name":"default"}}')
        except OSError:
            pass
    srv.lock = threading.Lock()
    srv.in_flight = 0
    srv.requests = {}
    srv.shutting_down = threading.Event()

    def stop(signum, frame):
        """The stop signal: the shutdown check fails through the delay, then the listener
        closes and what is in flight finishes (bounded), then the process ends."""
        srv.shutting_down.set()

        def later():
            time.sleep(opts.shutdown_delay)
            srv.shutdown()
        threading.Thread(target=later, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    # A TLS handshake happens in the handler thread (first read), so one slow client cannot
    # hold up the accept loop.
    srv.serve_forever()
    srv.socket.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
