"""Hostile health-check peers (hostile.py): endless headers, a huge or endless body, a 1 byte/s
drip, TLS garbage, malformed PostgreSQL and MySQL replies, to the plain probes and to the ones
that log in through libpq and MariaDB Connector/C. Each must be marked down with a clear detail
within a few intervals, k3lb's memory must stay bounded while they keep at it, and a healthy
backend beside them must keep serving."""
import os
import subprocess
import sys
import time

import pytest

from k3lbtest import Backend, K3lb, free_port, read_line, connect  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FAST = "interval: 300ms, timeout: 250ms, rise: 1, fall: 1, down_interval: 300ms"
RSS_GROWTH_KB = 32 << 10

# backend: (hostile mode, health settings, the result it must get)
CASES = {
    "headers": ("endless_headers", "kind: http, path: /", "protocol_error"),
    "body": ("huge_body", "kind: http, path: /, expect_body: ok", "protocol_error"),
    "chunked": ("endless_chunked", "kind: http, path: /, expect_body: ok", "protocol_error"),
    "drip": ("drip", "kind: http, path: /", "timeout"),
    "tls": ("tls_garbage", "kind: https, path: /, tls: {verify: false}", "tls_error"),
    "pg": ("pg_garbage", "kind: postgres", "protocol_error"),
    "pgdrip": ("pg_drip", "kind: postgres, database: {user: k3lb, sslmode: disable}", "timeout"),
    "pglogin": ("pg_garbage", "kind: postgres, database: {user: k3lb, sslmode: disable}",
                "protocol_error"),
    "my": ("mysql_garbage", "kind: mysql", "protocol_error"),
    "mybad": ("mysql_badproto", "kind: mysql", "protocol_error"),
    "mylogin": ("mysql_garbage", "kind: mysql, database: {user: k3lb, sslmode: disable}",
                "protocol_error"),
}


@pytest.fixture
def hostile():
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "hostile.py")],
                         stdout=subprocess.PIPE, text=True)
    ports = {}
    for line in p.stdout:
        if line.strip() == "READY":
            break
        mode, port = line.split()
        ports[mode] = int(port)
    yield ports
    p.kill()
    p.wait()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def test_hostile_peers(hostile, tmp_path, capsys):
    good = Backend("name", name="good")
    k = K3lb(str(tmp_path))
    k.admin_port, good_port = free_port(), free_port()
    backends = "".join("  - name: %s\n    servers: [\"127.0.0.1:%d\"]\n    health: {%s, %s}\n"
                       % (name, hostile[mode], health, FAST)
                       for name, (mode, health, _) in CASES.items())
    fronts = "".join("  - {name: %s, listen: [\"127.0.0.1:%d\"], backend: %s}\n"
                     % (name, free_port(), name) for name in CASES)
    try:
        k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n%s"
                "  - {name: good, listen: [\"127.0.0.1:%d\"], backend: good}\n"
                "backends:\n%s  - name: good\n    servers: [\"%s\"]\n    health: {kind: tcp, %s}\n"
                % (k.admin_port, fronts, good_port, backends, good.addr, FAST),
                # under AddressSanitizer, freed memory is held back (quarantine) and would
                # count as growth: a small quarantine keeps the measure about k3lb
                env={"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                     ":quarantine_size_mb=8"})
        rss0 = rss_kb(k.proc.pid)

        def verdicts(st):
            return {b["name"]: b["servers"][0] for b in st["backends"]}

        # every hostile server is probed and found wanting, in a few intervals
        st = k.wait_for(lambda st: all(s["check"]["checks"] >= 3 and s["state"] == "down"
                                       for n, s in verdicts(st).items() if n != "good"),
                        timeout=30, what="every hostile peer down")
        # they keep at it for a while (each probe meets the same abuse): memory stays bounded
        t_end = time.monotonic() + 5
        peak = rss0
        while time.monotonic() < t_end:
            peak = max(peak, rss_kb(k.proc.pid))
            assert read_line(connect(good_port)) == "good"
            time.sleep(0.25)
        st = k.status()
        with capsys.disabled():
            print("\n%-8s %-16s %-15s %s" % ("backend", "peer", "result", "detail"))
            for name, s in verdicts(st).items():
                if name != "good":
                    print("%-8s %-16s %-15s %s" % (name, CASES[name][0], s["check"]["result"],
                                                   s["check"]["detail"]))
            print("k3lb RSS: %d kB at start, %d kB peak, %d kB now" % (rss0, peak,
                                                                      rss_kb(k.proc.pid)))
        for name, s in verdicts(st).items():
            if name == "good":
                assert s["state"] == "up"
                continue
            assert s["state"] == "down" and s["check"]["result"] == CASES[name][2], (name, s)
            assert s["check"]["detail"], name
        assert peak - rss0 < RSS_GROWTH_KB, "RSS grew by %d kB" % (peak - rss0)
    finally:
        k.close()
        good.close()
