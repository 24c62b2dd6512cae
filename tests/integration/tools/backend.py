#!/usr/bin/env python3
"""A test backend server, run as its own process so tests can kill and stop it for real.

It serves on a listening socket inherited from the test (--fd), so the test knows the port and
the socket accepts (into its backlog) before this process even runs: no readiness race.

Modes:
  name       send this server's name, then echo until EOF
  echo       echo until EOF
  integrity  see integrity_client() in k3lbtest.py: both directions at once, half-close checked;
             a request starting "GET " is a health probe instead and gets HTTP 200 (no integrity
             header starts so: its first 8 bytes are a length far below 2^62)
  hold       accept and read until EOF, never send; print "CLOSED <n>" when a peer goes away
  reverse    send --size bytes, shut down writing, read to EOF, print "SHA <hex>"
  reset      read a little, then reset the connection
  flood      send 64 KiB blocks until the peer goes away, printing "SENT <bytes>" every
             16 MiB and at the end
  httpecho   "GET ..." is answered as HTTP with the status in --mode-file (default 200);
             "WHO" is answered with the name; anything else is echoed
"""
import argparse
import hashlib
import random
import socket
import struct
import sys
import threading

CHUNK = 1 << 16
print_lock = threading.Lock()


def report(line):
    with print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def recv_exact(c, n):
    buf = bytearray()
    while len(buf) < n:
        d = c.recv(min(CHUNK, n - len(buf)))
        if not d:
            raise EOFError
        buf += d
    return bytes(buf)


def serve_integrity(c):
    head = recv_exact(c, 4)
    if head == b"GET ":
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        return
    up_len, down_len, seed = struct.unpack("!QQQ", head + recv_exact(c, 20))

    def send_down():
        rng = random.Random(seed)
        left = down_len
        while left:
            n = min(1 << 18, left)  # the client regenerates in the same chunks
            c.sendall(rng.randbytes(n))
            left -= n

    sender = threading.Thread(target=send_down)
    sender.start()
    h = hashlib.sha256()
    got = 0
    while got < up_len:
        d = c.recv(min(CHUNK * 4, up_len - got))
        if not d:
            break
        h.update(d)
        got += len(d)
    eof = c.recv(1) == b""  # the client's FIN must arrive right after its data
    sender.join()
    c.sendall(h.digest() + (b"\x01" if eof and got == up_len else b"\x00"))


def serve_echo(c):
    while True:
        d = c.recv(CHUNK)
        if not d:
            return
        c.sendall(d)


def serve_httpecho(c, args):
    first = c.recv(CHUNK)
    if first.startswith(b"GET "):
        while b"\r\n\r\n" not in first:
            d = c.recv(CHUNK)
            if not d:
                return
            first += d
        try:
            with open(args.mode_file) as f:
                status = int(f.read().strip() or 200)
        except (OSError, ValueError, TypeError):
            status = 200
        c.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                  % status)
        return
    if first.startswith(b"WHO\n"):
        c.sendall(args.name.encode() + b"\n")
        first = first[4:]
    if first:
        c.sendall(first)
    serve_echo(c)


def serve(c, args):
    try:
        if args.mode == "name":
            c.sendall(args.name.encode() + b"\n")
            serve_echo(c)
        elif args.mode == "echo":
            serve_echo(c)
        elif args.mode == "peer":  # who carried the connection: the balancer's address
            c.sendall(("%s %s\n" % (args.name, c.getpeername()[0])).encode())
            serve_echo(c)
        elif args.mode == "httpecho":
            serve_httpecho(c, args)
        elif args.mode == "integrity":
            serve_integrity(c)
        elif args.mode == "hold":
            n = 0
            while True:
                d = c.recv(CHUNK)
                if not d:
                    break
                n += len(d)
            report("CLOSED %d" % n)
        elif args.mode == "reverse":
            c.sendall(b"x" * args.size)
            c.shutdown(socket.SHUT_WR)
            h = hashlib.sha256()
            while True:
                d = c.recv(CHUNK)
                if not d:
                    break
                h.update(d)
            report("SHA " + h.hexdigest())
        elif args.mode == "flood":
            sent, block, mark = 0, b"f" * CHUNK, 16 << 20
            try:
                while True:
                    c.sendall(block)
                    sent += len(block)
                    if sent % mark == 0:
                        report("SENT %d" % sent)
            finally:
                report("SENT %d" % sent)
        elif args.mode == "reset":
            c.recv(CHUNK)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, EOFError) as e:
        if args.mode == "hold":
            report("CLOSED error %s" % e.__class__.__name__)
    finally:
        c.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fd", type=int, required=True)
    p.add_argument("--mode", default="name")
    p.add_argument("--name", default="backend")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--mode-file")
    args = p.parse_args()
    lsock = socket.socket(fileno=args.fd)
    while True:
        c, _ = lsock.accept()
        threading.Thread(target=serve, args=(c, args), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
