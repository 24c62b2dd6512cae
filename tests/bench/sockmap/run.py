#!/usr/bin/env python3
"""Measures the BPF sockmap path against k3lb's splice path and a direct connection: one iperf3
stream through each, interleaved over --reps, medians in Gbit/s. Builds probe.c and
redirect.bpf.c into a temporary folder first (needs clang, libbpf-dev, root for BPF).

    python3 tests/bench/sockmap/run.py --k3lb build/k3lb [--reps 3] [--duration 5]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from bench import wait_port  # noqa: E402  (tests/bench/bench.py)

SERVER, K3LB, VERDICT, PARSER = 15401, 15402, 15403, 15404


def build(d):
    obj, exe = os.path.join(d, "redirect.bpf.o"), os.path.join(d, "probe")
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                    "-c", os.path.join(HERE, "redirect.bpf.c"), "-o", obj], check=True)
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", os.path.join(HERE, "probe.c"),
                    "-o", exe, "-lbpf", "-lpthread"], check=True)
    return obj, exe


def ready(p):
    line = p.stderr.readline()
    if "ready" not in line:
        sys.exit("probe did not start: " + line)


def iperf(port, duration):
    out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(duration)],
                         capture_output=True, text=True, timeout=duration + 30).stdout
    m = re.search(r"([\d.]+) Gbits/sec\s+receiver", out)
    return float(m.group(1)) if m else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k3lb", default="build/k3lb")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    a = ap.parse_args()
    procs = []
    with tempfile.TemporaryDirectory() as d:
        obj, exe = build(d)
        conf = os.path.join(d, "k3lb.yaml")
        with open(conf, "w") as f:
            f.write("admin: {listen: off}\nlog: {level: warn}\nfrontends:\n"
                    "  - {name: f, listen: [\"127.0.0.1:%d\"], backend: b}\nbackends:\n"
                    "  - {name: b, servers: [\"127.0.0.1:%d\"], health: {kind: none}}\n"
                    % (K3LB, SERVER))
        try:
            procs.append(subprocess.Popen(["iperf3", "-s", "-p", str(SERVER)],
                                          stdout=subprocess.DEVNULL))
            procs.append(subprocess.Popen([a.k3lb, "serve", "-c", conf]))
            for port, extra in ((VERDICT, []), (PARSER, ["parser"])):
                p = subprocess.Popen([exe, obj, str(port), str(SERVER)] + extra,
                                     stderr=subprocess.PIPE, text=True)
                procs.append(p)
                ready(p)
            wait_port(SERVER)
            wait_port(K3LB)
            paths = {"direct": SERVER, "k3lb splice": K3LB, "sockmap verdict": VERDICT,
                     "sockmap strparser": PARSER}
            got = {k: [] for k in paths}
            for _ in range(a.reps):
                for name, port in paths.items():
                    got[name].append(iperf(port, a.duration))
            direct = statistics.median(got["direct"])
            print("| path | Gbit/s (median of %d) | ×direct | runs |" % a.reps)
            print("|---|---:|---:|---|")
            for name, runs in got.items():
                med = statistics.median(runs)
                print("| %s | %.2f | %.2f× | %s |" % (name, med, med / direct if direct else 0,
                                                      " ".join("%.2f" % r for r in runs)))
        finally:
            for p in procs:
                p.terminate()
                p.wait()


if __name__ == "__main__":
    main()
