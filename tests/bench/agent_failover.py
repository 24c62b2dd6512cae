#!/usr/bin/env python3
"""Benchmark: how fast k3lb agent moves an agent's websocket tunnel off a failed server.

Three stand-in K3s servers (contrib/lab/apiserver.py) behind `k3lb agent` (check interval
--interval, fall 2); a websocket through the agent to the ACTIVE server; then
  kill:  SIGKILL of the ACTIVE server -> time until the tunnel is closed and until a new tunnel
         is up on another server (goal: < 1 s)
  stop:  SIGSTOP of the new ACTIVE server (a silent partition) -> the same times
         (goal: < interval * fall + timeout)
Repeats --reps times and prints medians. Not a test: prints figures, asserts nothing.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../integration"))
sys.path.insert(0, os.path.join(HERE, "../.."))
from contrib.lab.pki import Pki  # noqa: E402
from k3lbtest import ApiServer, K3lb, WebSocket, free_port  # noqa: E402


def one(work, pki, cert, key, k3lb_bin, interval_ms, fail):
    os.environ["K3LB_BIN"] = k3lb_bin
    servers = [ApiServer(work, cert, key, ca=pki.ca_crt, name="s%d" % i) for i in range(3)]
    k = K3lb(work)
    port = free_port()
    k.admin_port = free_port()
    kubelet = pki.kubelet()  # what /v1-k3s/connect admits
    k.start(command="agent", args=[
        "--server", "https://" + servers[0].addr, "--listen", "127.0.0.1:%d" % port,
        "--admin", "127.0.0.1:%d" % k.admin_port, "--state-file", os.path.join(work, "st.json"),
        "--servers-from", "static:" + ",".join(s.addr for s in servers),
        "--check-interval", "%dms" % interval_ms, "--check-timeout", "%dms" % (interval_ms // 2),
        "--fall", "2", "--rise", "2"])
    try:
        k.wait_for(lambda st: any(s["state"] == "active" for s in st["backends"][0]["servers"]))
        ws = WebSocket(port, pki.ca_crt, client=kubelet)
        victim = [s for s in servers if s.name == ws.server][0]
        t0 = time.monotonic()
        victim.kill() if fail == "kill" else victim.stop()
        closed = ws.wait_closed(30)
        ws2 = WebSocket(port, pki.ca_crt, client=kubelet)
        moved = time.monotonic() - t0
        assert ws2.server != victim.name
        return closed, moved
    finally:
        k.close()
        for s in servers:
            s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--k3lb", default=os.path.join(HERE, "../../build/k3lb"))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--interval", type=int, default=1000, help="check interval, ms")
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="k3lb-bench-agent-")
    pki = Pki(os.path.join(work, "pki"))
    cert, key = pki.issue("server", ["IP:127.0.0.1"])
    for fail in ("kill", "stop"):
        runs = [one(work, pki, cert, key, os.path.abspath(a.k3lb), a.interval, fail)
                for _ in range(a.reps)]
        closed = statistics.median(r[0] for r in runs)
        moved = statistics.median(r[1] for r in runs)
        bound = "< 1 s" if fail == "kill" else "< %.2f s (interval*fall+timeout)" % (
            a.interval / 1000 * 2 + a.interval / 2000)
        print("agent failover on %s (check interval %d ms): tunnel closed after %.3f s, new "
              "tunnel on another server after %.3f s (median of %d; goal %s)"
              % (fail.upper(), a.interval, closed, moved, a.reps, bound))


if __name__ == "__main__":
    main()
