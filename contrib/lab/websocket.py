"""A websocket client (RFC 6455) over TLS, as a K3s agent's tunnel opens one to a server's
/v1-k3s/connect: the lab's stand-in servers send their name first, then echo every frame."""
import base64
import os
import socket
import ssl
import struct
import time


class WebSocket:
    """A websocket client over TLS to /v1-k3s/connect (through k3lb, which passes TLS through):
    the first frame names the server, later frames are echoed."""

    def __init__(self, port, ca, host="127.0.0.1", timeout=10, client=None,
                 path="/v1-k3s/connect"):
        """client: (cert, key) of a kubelet (O=system:nodes), which /v1-k3s/connect admits."""
        ctx = ssl.create_default_context(cafile=ca)
        if client:
            ctx.load_cert_chain(*client)
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=host)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            d = self.sock.recv(1)
            if not d:
                raise ConnectionError("closed during the upgrade")
            head += d
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError("no upgrade: %r" % head[:40])
        self.server = self.recv().decode()

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            d = self.sock.recv(n - len(buf))
            if not d:
                raise EOFError("websocket closed")
            buf += d
        return buf

    def send(self, data):
        mask = os.urandom(4)
        head = struct.pack("!BB", 0x82, 0x80 | len(data)) if len(data) < 126 else \
            struct.pack("!BBH", 0x82, 0x80 | 126, len(data))
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(data)))

    def recv(self):
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exact(8))[0]
        return self._exact(n)

    def echo(self, data=b"ping"):
        self.send(data)
        return self.recv() == data

    def wait_closed(self, timeout):
        """Seconds until the connection is closed by the other end (EOF or reset)."""
        t0 = time.monotonic()
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(4096):
                pass
        except socket.timeout:
            return float("inf")
        except OSError:
            pass  # reset, or the TLS layer noticing the close
        return time.monotonic() - t0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
