#!/usr/bin/env python3
"""A stand-in for a K3s server's port 6443 (there is no kube-apiserver binary here): a TLS HTTP
server answering /readyz, /livez, /healthz, /ping, /v1-k3s/readyz (basic auth), /cacerts and
/v1-k3s/apiservers.

Its behaviour is switched at run time through --mode-file (read on every request):
  200 (or no file)  healthy
  503               /readyz, /livez and /healthz answer 503
  401               every path answers 401
  hang              accept and never answer
"""
import argparse
import base64
import json
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

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

    def _authorized(self):
        want = self.server.opts.password
        if not want:
            return True
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
        except ValueError:
            return False
        return pw == want

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
        if path == "/cacerts":
            with open(self.server.opts.ca) as f:
                return self._send(200, f.read())
        if path in ("/v1-k3s/readyz", "/v1-k3s/apiservers"):
            if not self._authorized():
                return self._send(401, "Unauthorized")
            if path == "/v1-k3s/readyz":
                return self._send(503, "not ready") if mode == "503" else self._send(200, "ok")
            servers = self.server.opts.apiservers.split(",") if self.server.opts.apiservers \
                else []
            return self._send(200, json.dumps(servers), "application/json")
        return self._send(404, "not found")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fd", type=int, help="inherited listening socket")
    p.add_argument("--listen", help="host:port to listen on instead")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", help="CA served at /cacerts")
    p.add_argument("--mode-file")
    p.add_argument("--password", help="basic-auth password for /v1-k3s/*")
    p.add_argument("--apiservers", default="", help="comma list for /v1-k3s/apiservers")
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
    srv.daemon_threads = True
    # A TLS handshake happens in the handler thread (first read), so one slow client cannot
    # hold up the accept loop.
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
