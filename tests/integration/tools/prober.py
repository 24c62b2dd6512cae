#!/usr/bin/env python3
"""A client that opens a new connection to host:port every --every seconds and prints one line
per attempt: "<CLOCK_MONOTONIC seconds> ok <first line read>" or "<seconds> fail <why>". The
clock is the kernel's monotonic one, the same in every network namespace, so a test can set
the lines against the moment it injected a fault. Runs until killed or --count attempts."""
import argparse
import socket
import sys
import time


def attempt(host, port, timeout):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            buf = b""
            while not buf.endswith(b"\n") and len(buf) < 256:
                d = s.recv(256)
                if not d:
                    return "fail closed"
                buf += d
            return "ok " + buf.decode(errors="replace").strip()
    except OSError as e:
        return "fail " + (type(e).__name__ if not e.strerror else e.strerror.replace(" ", "_"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("address")
    p.add_argument("--every", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=0.3)
    p.add_argument("--count", type=int, default=100000)
    a = p.parse_args()
    host, port = a.address.rsplit(":", 1)
    for _ in range(a.count):
        start = time.monotonic()
        result = attempt(host, int(port), a.timeout)
        sys.stdout.write("%.4f %s\n" % (start, result))
        sys.stdout.flush()
        time.sleep(max(0.0, a.every - (time.monotonic() - start)))


if __name__ == "__main__":
    main()
