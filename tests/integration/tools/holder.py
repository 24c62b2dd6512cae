#!/usr/bin/env python3
"""Long-lived connections through a balancer: opens --count connections to host:port, reads the
backend's first line ("<name> <address of the balancer that carried it>"), then every --every
seconds sends one byte on each and expects it back. Prints "<CLOCK_MONOTONIC> open <i> <lb>" once
per connection and "<CLOCK_MONOTONIC> lost <i> <lb> <why>" when one fails or closes (a lost one
is not reopened). Runs until killed."""
import argparse
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("address")
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--every", type=float, default=0.1)
    p.add_argument("--timeout", type=float, default=1.0)
    a = p.parse_args()
    host, port = a.address.rsplit(":", 1)
    conns = []
    for i in range(a.count):
        s = socket.create_connection((host, int(port)), timeout=5)
        line = b""
        while not line.endswith(b"\n"):
            d = s.recv(1)
            if not d:
                raise SystemExit("closed before its first line")
            line += d
        lb = line.decode().split()[-1]
        s.settimeout(a.timeout)
        conns.append([i, s, lb])
        print("%.4f open %d %s" % (time.monotonic(), i, lb), flush=True)
    while conns:
        start = time.monotonic()
        for c in list(conns):
            i, s, lb = c
            try:
                s.sendall(b".")
                if s.recv(1) != b".":
                    raise OSError("closed")
            except OSError as e:
                print("%.4f lost %d %s %s" % (time.monotonic(), i, lb,
                                              type(e).__name__), flush=True)
                conns.remove(c)
                s.close()
        time.sleep(max(0.0, a.every - (time.monotonic() - start)))


if __name__ == "__main__":
    sys.exit(main())
