#!/usr/bin/env python3
"""Hostile health-check peers: one listener per mode on loopback, each in a process of its own
(one flooding peer must not slow another down), each answering every connection the way a
broken or malicious server would. Prints "<mode> <port>" per listener, then "READY", and serves
until killed (its children die with it: they watch their parent).

Modes:
  endless_headers  a 200 status line, then header lines forever
  huge_body        a 200 with Content-Length 10^12, then body bytes forever
  endless_chunked  a 200 with chunked encoding, then 4 KiB chunks forever
  drip             a 200 response, one byte per second
  tls_garbage      random bytes at once (to a TLS ClientHello)
  pg_garbage       an ErrorResponse claiming 4 GiB with no terminator, then bytes forever
  pg_drip          an authentication request one byte per second
  mysql_garbage    a greeting claiming 16 MiB, protocol 10, then bytes forever
  mysql_badproto   a complete greeting packet of protocol 9 (too old)
"""
import os
import socket
import struct
import sys
import threading
import time

BLOCK = 1 << 14


def forever(c, head, unit):
    c.sendall(head)
    while True:
        c.sendall(unit)


def drip(c, data):
    for b in data:
        c.sendall(bytes([b]))
        time.sleep(1)


def serve(mode, c):
    try:
        c.settimeout(600)
        if mode in ("endless_headers", "huge_body", "endless_chunked", "drip"):
            c.recv(4096)  # the request
        if mode == "endless_headers":
            forever(c, b"HTTP/1.1 200 OK\r\n", b"X-Pad: " + b"a" * 200 + b"\r\n")
        elif mode == "huge_body":
            forever(c, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n",
                    b"x" * BLOCK)
        elif mode == "endless_chunked":
            forever(c, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    b"1000\r\n" + b"y" * 4096 + b"\r\n")
        elif mode == "drip":
            drip(c, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        elif mode == "tls_garbage":
            c.recv(4096)
            forever(c, os.urandom(BLOCK), os.urandom(BLOCK))
        elif mode == "pg_garbage":
            c.recv(4096)
            forever(c, b"E" + struct.pack("!I", 0xFFFFFFFF), b"S" * BLOCK)
        elif mode == "pg_drip":
            c.recv(4096)
            drip(c, b"R" + struct.pack("!II", 8, 0))
        elif mode == "mysql_garbage":
            forever(c, b"\xff\xff\xff\x00\x0a", b"5" * BLOCK)
        elif mode == "mysql_badproto":
            payload = b"\x09" + b"4.0.1\x00" + b"\x00" * 40
            c.sendall(struct.pack("<I", len(payload))[:3] + b"\x00" + payload)
            c.recv(4096)
    except OSError:
        pass
    finally:
        c.close()


def listen(mode):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    parent = os.getpid()
    if os.fork() == 0:
        def orphaned():
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(0)

        threading.Thread(target=orphaned, daemon=True).start()
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(mode, c), daemon=True).start()
    port = s.getsockname()[1]
    s.close()
    return port


MODES = ["endless_headers", "huge_body", "endless_chunked", "drip", "tls_garbage", "pg_garbage",
         "pg_drip", "mysql_garbage", "mysql_badproto"]

if __name__ == "__main__":
    for m in MODES:
        print(m, listen(m), flush=True)
    print("READY", flush=True)
    while True:
        time.sleep(3600)
