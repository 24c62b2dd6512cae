#!/usr/bin/env python3
"""Benchmark: CPU that k3lb spends health-checking N servers (default 1,000) at a 1 s interval.

Starts N listeners on 127.0.0.1 in one helper process (accept and close, or answer HTTP 200),
k3lb with one backend of N servers, lets the probes spread over the interval, then reads
k3lb's CPU time from /proc over a measuring window and prints it as % of one core.
Not a test: prints figures, asserts nothing.

    python3 tests/bench/health_1000.py [--k3lb build/k3lb] [--servers 1000] [--kind tcp|http]
"""
import argparse
import asyncio
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time

HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def serve(socks, kind):
    async def handle(reader, writer):
        if kind == "http":
            try:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(HTTP_OK)
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                pass
        writer.close()

    async def main():
        for s in socks:
            await asyncio.start_server(handle, sock=s)
        await asyncio.Event().wait()

    asyncio.run(main())


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--k3lb", default=os.path.join(os.path.dirname(__file__), "../../build/k3lb"))
    p.add_argument("--servers", type=int, default=1000)
    p.add_argument("--kind", default="tcp", choices=["tcp", "http"])
    p.add_argument("--seconds", type=float, default=20)
    a = p.parse_args()

    socks = []
    for _ in range(a.servers):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(256)
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    helper = multiprocessing.Process(target=serve, args=(socks, a.kind), daemon=True)
    helper.start()
    for s in socks:
        s.close()

    work = tempfile.mkdtemp(prefix="k3lb-bench-health-")
    cfg = os.path.join(work, "k3lb.yaml")
    with open(cfg, "w") as f:
        f.write("admin: {listen: off}\nworkers: 1\nfrontends:\n"
                "  - {name: f, listen: [\"127.0.0.1:%d\"], backend: many}\n" % free_port())
        f.write("backends:\n  - name: many\n    health: {kind: %s, interval: 1s, timeout: 500ms}\n"
                "    servers:\n" % a.kind)
        for port in ports:
            f.write("      - \"127.0.0.1:%d\"\n" % port)
    k = subprocess.Popen([a.k3lb, "serve", "-c", cfg], stderr=open(os.path.join(work, "log"), "w"))
    time.sleep(3)  # first probes spread over one interval; let them settle
    c0, t0 = cpu_seconds(k.pid), time.monotonic()
    time.sleep(a.seconds)
    c1, t1 = cpu_seconds(k.pid), time.monotonic()
    k.terminate()
    k.wait()
    helper.terminate()
    downs = open(os.path.join(work, "log")).read().count("server_down")
    pct = 100.0 * (c1 - c0) / (t1 - t0)
    print("health checks: %d servers, kind %s, interval 1s: k3lb CPU %.2f %% of one core "
          "(%.2f s over %.1f s); %d servers went down during the run"
          % (a.servers, a.kind, pct, c1 - c0, t1 - t0, downs))
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
