#!/usr/bin/env python3
"""k3lb's benchmark: direct connection, k3lb, HAProxy (mode tcp) and nginx stream, side by side
on loopback, in one run.

Tests (each on a freshly started proxy; order rep > test > proxy so that proxies interleave in
time on a noisy machine; medians over --reps):
  iperf1, iperf8   iperf3 with 1 / 8 streams                      Gbit/s
  wrk_close        wrk, a new TCP connection per request         req/s, p50, p99
  wrk_ka           wrk, keep-alive                               req/s, p50, p99
  idle             N idle connections held through the proxy      KiB of proxy RSS per connection
and, for k3lb only, callgrind's instruction count per proxied short connection (repeatable: the
regression guard). The wrk tests also record cpu_us_per_req: the proxy's own user + system CPU per
request, summed over its processes and threads (what it costs, whoever else shares the cores).

Prints one table of medians with ratios against direct and HAProxy, and writes raw.csv and
summary.md into --out. Needs Debian's haproxy, nginx, libnginx-mod-stream, iperf3, wrk and
valgrind. Not part of the test suite: it asserts nothing.

    python3 tests/bench/bench.py --k3lb build/k3lb [--reps 3] [--duration 10]
    python3 tests/bench/bench.py --proxies k3lb,k3lb_b --k3lb-b /tmp/lever/k3lb --tests wrk_close
                                 # one lever, A/B: the same binary or config against a variant
"""
import argparse
import csv
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BE_HTTP = [18181, 18182]
BE_IPERF = 15301
BE_IDLE = [18191, 18192]
LISTEN = {"http": 19101, "iperf": 19102, "idle": 19103}
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no conflict
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Procs:
    def __init__(self):
        self.procs = []

    def spawn(self, cmd, log):
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []

    def pids(self):
        return [pid for p in self.procs for pid in [p.pid] + children(p.pid)]

    def cpu_ticks(self):
        """User + system CPU of every process (all its threads), in clock ticks."""
        total = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return total

    def rss_kib(self):
        total = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/status" % pid) as f:
                    total += int([l for l in f if l.startswith("VmRSS")][0].split()[1])
            except (OSError, IndexError):
                pass
        return total


def children(pid):
    out = sh(["ps", "-o", "pid=", "--ppid", str(pid)]).stdout.split()
    return [int(x) for x in out] + [c for x in out for c in children(int(x))]


# ---- backends ---------------------------------------------------------------------------------

def start_backends(work, procs, maxconn):
    www = os.path.join(work, "www")
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("x" * 63 + "\n")
    os.chmod(work, 0o755)
    os.chmod(www, 0o755)
    conf = os.path.join(work, "backend-nginx.conf")
    with open(conf, "w") as f:
        f.write("worker_processes auto;\npid %s/backend-nginx.pid;\nerror_log %s/backend.err;\n"
                "events { worker_connections 4096; }\nhttp { access_log off; keepalive_requests "
                "1000000000; server { listen 127.0.0.1:%d; listen 127.0.0.1:%d; root %s; } }\n"
                % (work, work, BE_HTTP[0], BE_HTTP[1], www))
    log = open(os.path.join(work, "backends.log"), "w")
    procs.spawn(["nginx", "-c", conf, "-g", "daemon off;"], log)
    procs.spawn(["iperf3", "-s", "-p", str(BE_IPERF)], log)
    count = os.path.join(work, "idle.count")
    procs.spawn([sys.executable, os.path.join(HERE, "idle_server.py"), "--ports",
                 ",".join(map(str, BE_IDLE)), "--count-file", count], log)
    for port in BE_HTTP + [BE_IPERF] + BE_IDLE:
        wait_port(port)
    return count


# ---- proxies ----------------------------------------------------------------------------------

def pools():
    return {"http": ["127.0.0.1:%d" % p for p in BE_HTTP], "iperf": ["127.0.0.1:%d" % BE_IPERF],
            "idle": ["127.0.0.1:%d" % p for p in BE_IDLE]}


def conf_k3lb(d, maxconn, extra=""):
    lines = ["admin: {listen: off}", "log: {level: warn}", "maxconn: %d" % maxconn]
    lines += [extra] if extra else []
    lines.append("frontends:")
    lines += ["  - {name: %s, listen: [\"127.0.0.1:%d\"], backend: %s}" % (n, LISTEN[n], n)
              for n in LISTEN]
    lines.append("backends:")
    lines += ["  - {name: %s, servers: [%s], health: {kind: none}}"
              % (n, ", ".join('"%s"' % s for s in srv)) for n, srv in pools().items()]
    path = os.path.join(d, "k3lb.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def conf_haproxy(d, maxconn):
    text = ("global\n    maxconn %d\ndefaults\n    mode tcp\n    timeout connect 5s\n"
            "    timeout client 1h\n    timeout server 1h\n" % maxconn)
    for n, srv in pools().items():
        text += "listen %s\n    bind 127.0.0.1:%d\n    balance roundrobin\n" % (n, LISTEN[n])
        text += "".join("    server s%d %s\n" % (i, s) for i, s in enumerate(srv))
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(text)
    return path


def conf_nginx(d, maxconn):
    text = ("load_module %s;\nworker_processes 2;\npid %s/nginx.pid;\nerror_log %s/nginx.err;\n"
            "events { worker_connections %d; }\nstream {\n" % (STREAM_MODULE, d, d, maxconn))
    for n, srv in pools().items():
        text += "  upstream %s { %s }\n" % (n, " ".join("server %s;" % s for s in srv))
        text += "  server { listen 127.0.0.1:%d; proxy_pass %s; proxy_timeout 1h; }\n" % (
            LISTEN[n], n)
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(text + "}\n")
    return path


def start_proxy(name, k3lb, d, procs, maxconn, variant):
    """variant: (binary, extra top-level YAML) of proxy k3lb_b."""
    log = open(os.path.join(d, name + ".log"), "w")
    if name == "k3lb":
        procs.spawn([k3lb, "serve", "-c", conf_k3lb(d, maxconn)], log)
    elif name == "k3lb_b":
        procs.spawn([variant[0], "serve", "-c", conf_k3lb(d, maxconn, variant[1])], log)
    elif name == "haproxy":
        procs.spawn(["haproxy", "-db", "-f", conf_haproxy(d, maxconn)], log)
    elif name == "nginx":
        procs.spawn(["nginx", "-c", conf_nginx(d, maxconn * 2), "-g", "daemon off;"], log)
    for port in LISTEN.values():
        wait_port(port)


def target(name, test):
    if name == "direct":
        return {"http": BE_HTTP[0], "iperf": BE_IPERF, "idle": BE_IDLE[0]}[test]
    return LISTEN[test]


# ---- tests ------------------------------------------------------------------------------------

def run_iperf(port, streams, duration):
    for attempt in range(3):  # iperf3's server is busy for a moment after each test
        r = sh(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(duration), "-P",
                str(streams), "-J"], timeout=duration + 30)
        try:
            return {"gbps": json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9}
        except (ValueError, KeyError):
            time.sleep(1)
    return {}


def ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(port, close, duration, procs):
    """procs: the proxy's processes, whose CPU per request is recorded (cpu_us_per_req: what the
    proxy itself costs, whoever else shares the cores); None for the direct connection."""
    cmd = ["wrk", "-t2", "-c64", "-d%ds" % duration, "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    ticks = procs.cpu_ticks() if procs else 0
    out = sh(cmd + ["http://127.0.0.1:%d/index.html" % port], timeout=duration + 30).stdout
    ticks = procs.cpu_ticks() - ticks if procs else 0
    res = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)\b" % pct, out)
        if m:
            res[key] = ms(m.group(1), m.group(2))
    m = re.search(r"(\d+) requests in", out)
    if procs and m and int(m.group(1)):
        res["cpu_us_per_req"] = ticks * 1e6 / os.sysconf("SC_CLK_TCK") / int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["errors"] = float(m.group(1)) if m else 0.0
    return res


def run_idle(port, n, count_file, procs):
    before = procs.rss_kib()
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    deadline, held = time.monotonic() + 60, 0
    while time.monotonic() < deadline:
        try:
            held = int(open(count_file).read() or 0)
        except (OSError, ValueError):
            held = 0
        if held >= n:
            break
        time.sleep(0.2)
    during = procs.rss_kib()
    for s in socks:
        s.close()
    while time.monotonic() < deadline + 30:  # the backend sees them go
        try:
            if int(open(count_file).read() or 0) == 0:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return {"conns": held, "kib_per_conn": (during - before) / max(held, 1)}


# ---- callgrind ----------------------------------------------------------------------------------

def callgrind_cost(k3lb, work):
    """Instructions k3lb executes per proxied short connection: two runs with different numbers
    of connections, the difference divided by the difference."""
    if not shutil.which("valgrind"):
        return None
    totals = []
    for n in (50, 250):
        d = tempfile.mkdtemp(dir=work)
        cfg = os.path.join(d, "k.yaml")
        with open(cfg, "w") as f:
            f.write("admin: {listen: off}\nlog: {level: warn}\nworkers: 1\nsplice: false\n"
                    "frontends: [{name: h, listen: [\"127.0.0.1:%d\"], backend: h}]\n"
                    "backends: [{name: h, servers: [\"127.0.0.1:%d\"], health: {kind: none}}]\n"
                    % (LISTEN["http"], BE_HTTP[0]))
        out = os.path.join(d, "callgrind.out")
        p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, k3lb,
                              "serve", "-c", cfg], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        wait_port(LISTEN["http"], timeout=60)
        for _ in range(n):
            with socket.create_connection(("127.0.0.1", LISTEN["http"])) as s:
                s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while s.recv(65536):
                    pass
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        text = open(out).read()
        m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
        totals.append(int(m.group(1)))
    return (totals[1] - totals[0]) / 200.0


# ---- report -------------------------------------------------------------------------------------

def summarize(rows, proxies, tests, reps, out):
    med = {}
    for (rep, proxy, test, metric, value) in rows:
        med.setdefault((proxy, test, metric), []).append(value)
    med = {k: statistics.median(v) for k, v in med.items()}
    # The ratios: k3lb against HAProxy, or in an A/B run the variant against k3lb.
    mine, other = (("k3lb_b", "k3lb") if "haproxy" not in proxies and "k3lb_b" in proxies
                   else ("k3lb", "haproxy"))
    lines = ["| test | metric | %s | %s/direct | %s/%s |" % (" | ".join(proxies), mine, mine, other),
             "|---|---|" + "---:|" * (len(proxies) + 2)]
    for test in tests:
        metrics = sorted({m for (p, t, m) in med if t == test})
        for m in metrics:
            vals = [med.get((p, test, m)) for p in proxies]
            k, d, h = (med.get((mine, test, m)), med.get(("direct", test, m)),
                       med.get((other, test, m)))
            cell = lambda v: "-" if v is None else ("%.2f" % v if v < 1000 else "{:,.0f}".format(v))
            ratio = lambda a, b: "-" if a is None or not b else "%.2fx" % (a / b)
            lines.append("| %s | %s | %s | %s | %s |" % (test, m, " | ".join(cell(v) for v in vals),
                                                         ratio(k, d), ratio(k, h)))
    text = "\n".join(lines)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("Medians of %d run%s.\n\n%s\n" % (reps, "s" if reps > 1 else "", text))
    print(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--k3lb", default=os.path.join(HERE, "../../build/k3lb"))
    p.add_argument("--proxies", default="direct,k3lb,haproxy,nginx")
    p.add_argument("--tests", default="iperf1,iperf8,wrk_close,wrk_ka,idle")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--no-callgrind", action="store_true")
    p.add_argument("--k3lb-b", help="a second k3lb binary, measured as proxy k3lb_b (an A/B run "
                   "of one lever; default: --k3lb)")
    p.add_argument("--k3lb-b-extra", default="", help="top-level YAML for k3lb_b (a setting "
                   "as lever), e.g. 'workers: 1'")
    p.add_argument("--out", default=os.path.join(HERE, "results", time.strftime("%Y%m%d-%H%M%S")))
    a = p.parse_args()
    k3lb = os.path.abspath(a.k3lb)
    variant = (os.path.abspath(a.k3lb_b or a.k3lb), a.k3lb_b_extra)
    proxies, tests = a.proxies.split(","), a.tests.split(",")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    maxconn = (min(hard, 1 << 20) - 100) // 2
    idle_n = min(10000, maxconn - 50)
    busy = [x for x in BE_HTTP + [BE_IPERF] + BE_IDLE + list(LISTEN.values()) if not port_free(x)]
    if busy:
        sys.exit("ports in use: %s" % busy)
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="k3lb-bench-")
    backends, rows = Procs(), []
    try:
        count_file = start_backends(work, backends, maxconn)
        for rep in range(1, a.reps + 1):
            for test in tests:
                for proxy in proxies:
                    if test == "idle" and proxy == "direct":
                        continue
                    d = tempfile.mkdtemp(dir=work)
                    procs = Procs()
                    try:
                        if proxy != "direct":
                            start_proxy(proxy, k3lb, d, procs, maxconn, variant)
                        port = target(proxy, {"iperf1": "iperf", "iperf8": "iperf",
                                              "idle": "idle"}.get(test, "http"))
                        if test.startswith("iperf"):
                            res = run_iperf(port, int(test[5:]), a.duration)
                        elif test.startswith("wrk"):
                            res = run_wrk(port, test == "wrk_close", a.duration,
                                          procs if proxy != "direct" else None)
                        else:
                            res = run_idle(port, idle_n, count_file, procs)
                    finally:
                        procs.stop()
                    for metric, value in res.items():
                        rows.append((rep, proxy, test, metric, value))
                    print("rep %d %-9s %-8s %s" % (rep, test, proxy, json.dumps(res)), flush=True)
        if not a.no_callgrind and "k3lb" in proxies:
            cost = callgrind_cost(k3lb, work)
            if cost:
                rows.append((1, "k3lb", "callgrind", "instructions_per_conn", cost))
                tests.append("callgrind")
                print("callgrind: %.0f instructions per proxied short connection" % cost)
    finally:
        backends.stop()
        shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(a.out, "raw.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rep", "proxy", "test", "metric", "value"])
        w.writerows(rows)
    summarize(rows, proxies, tests, a.reps, a.out)
    print("\nresults in %s" % a.out)


if __name__ == "__main__":
    main()
