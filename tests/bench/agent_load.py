#!/usr/bin/env python3
"""Benchmark: what k3lb agents cost the servers they protect (issue: 1,000 agents must not flap
their servers). N `k3lb agent` processes (default 100) against three stand-in K3s servers
(contrib/lab/apiserver.py, which counts requests per path and accepted TLS connections) with
the agent's defaults (k3s check every 10 s over one kept-alive connection per server, a list
answer standing in for the probe due; /v1-k3s/apiservers refresh 5 s backing off to 60 s). After a settling time, counts over --seconds and prints, per agent per server:
requests/s (all paths), /v1-k3s/readyz/s, /v1-k3s/apiservers/s and new TLS handshakes/s.
Goals: <= 0.1 requests/s and <= 0.01 handshakes/s per agent per server once settled.
Not a test: prints figures, asserts nothing. Loopback only."""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../integration"))
sys.path.insert(0, os.path.join(HERE, "../.."))
from contrib.lab.pki import Pki  # noqa: E402
from k3lbtest import ApiServer, K3lb, free_port, https_get  # noqa: E402


def stats(server, ca):
    return json.loads(https_get(server.port, "/stats", ca, timeout=30)[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k3lb", default=os.path.join(HERE, "../../build/k3lb"))
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--settle", type=float, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    os.environ["K3LB_BIN"] = os.path.abspath(args.k3lb)
    import hashlib
    with tempfile.TemporaryDirectory() as work:
        pki = Pki(os.path.join(work, "pki"))
        cert, key = pki.issue("server", ["IP:127.0.0.1", "DNS:localhost"])
        ca_hash = hashlib.sha256(open(pki.ca_crt, "rb").read()).hexdigest()
        listing = os.path.join(work, "apiservers")
        servers = [ApiServer(work, cert, key, ca=pki.ca_crt, name="s%d" % i, password="pw",
                             apiservers_file=listing) for i in range(3)]
        with open(listing, "w") as f:
            f.write(",".join(s.addr for s in servers))
        agents = []
        try:
            for i in range(args.agents):
                k = K3lb(work)
                k.start(command="agent", env={"K3S_TOKEN": "K10%s::node:pw" % ca_hash}, args=[
                    "--server", "https://" + servers[0].addr,
                    "--listen", "127.0.0.1:%d" % free_port(), "--workers", "1",
                    "--state-file", os.path.join(work, "st%d.json" % i)])
                agents.append(k)
            time.sleep(args.settle)  # a settling time is what this measures around
            before = [stats(s, pki.ca_crt) for s in servers]
            time.sleep(args.seconds)
            after = [stats(s, pki.ca_crt) for s in servers]
        finally:
            for k in agents:
                k.close()
            for s in servers:
                s.close()
    per = args.agents * args.seconds
    print("%d agents, 3 servers, %.0f s after %.0f s settling; per agent per server:"
          % (args.agents, args.seconds, args.settle))
    for i, (b, a) in enumerate(zip(before, after)):
        d = {k: a.get(k, 0) - b.get(k, 0) for k in a}
        reqs = sum(v for k, v in d.items() if k.startswith("/"))
        print("  s%d: %.4f requests/s (readyz %.4f, apiservers %.4f), %.4f TLS handshakes/s"
              % (i, reqs / per, d.get("/v1-k3s/readyz", 0) / per,
                 d.get("/v1-k3s/apiservers", 0) / per, d.get("agent_connections", 0) / per))


if __name__ == "__main__":
    main()
