#!/usr/bin/env python3
"""Long-lived connections through a balancer: opens --count connections to host:port, reads the
backend's first line ("<name> <address of the balancer that carried it>"), then every --every
seconds sends one byte on each and expects it back within --timeout. Prints "<CLOCK_MONOTONIC>
open <i> <lb>" once per connection and "<CLOCK_MONOTONIC> lost <i> <lb> <why>" when one fails,
closes or stays silent (a lost one is not reopened). All are asked at once and awaited
together, so one silent connection never leaves the others unused for longer than --timeout
(a router's resilient ECMP may move a flow that stays idle). Runs until killed."""
import argparse
import select
import socket
import sys
import time


def lose(conns, c, why):
    i, s, lb = c
    print("%.4f lost %d %s %s" % (time.monotonic(), i, lb, why), flush=True)
    conns.remove(c)
    s.close()


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
        s.setblocking(False)
        conns.append([i, s, lb])
        print("%.4f open %d %s" % (time.monotonic(), i, lb), flush=True)
    while conns:
        start = time.monotonic()
        waiting = {}
        for c in list(conns):
            try:
                c[1].send(b".")
                waiting[c[1]] = c
            except OSError as e:
                lose(conns, c, type(e).__name__)
        deadline = start + a.timeout
        while waiting and time.monotonic() < deadline:
            ready, _, _ = select.select(list(waiting), [], [], deadline - time.monotonic())
            for s in ready:
                c = waiting.pop(s)
                try:
                    if s.recv(1) != b".":
                        raise OSError("closed")
                except OSError as e:
                    lose(conns, c, type(e).__name__ if str(e) != "closed" else "closed")
        for c in waiting.values():
            lose(conns, c, "silent")
        time.sleep(max(0.0, a.every - (time.monotonic() - start)))


if __name__ == "__main__":
    sys.exit(main())
