"""The demo the README starts with shows what k3lb is for, and works: every server checked with
its real check (k3s with the token, etcd with a client certificate), an etcd member killed and
detected, the quorum guard warning and clearing, a K3s server's 503 taken out, and what to try
next. Runs contrib/demo.py --tour-only on free ports. And Ctrl-C ends the demo at once, with
nothing of it left running."""
import os
import signal
import subprocess
import sys
import time

from k3lbtest import BIN, free_port

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_demo_tour():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "contrib", "demo.py"), "--k3lb", BIN,
                        "--api-port", str(free_port()), "--etcd-port", str(free_port()),
                        "--admin-port", str(free_port()), "--tour-only"],
                       capture_output=True, text=True, timeout=240)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert "ok: HTTP 200 from /v1-k3s/readyz" in out and "ok: etcd healthy" in out, out
    assert "get demo -> written through k3lb" in out
    assert "detected down after" in out and "put through k3lb: ok" in out
    assert "quorum_lost" in out and "quorum_restored" in out, out
    assert "is down: 2 checks failed: HTTP 503 from /v1-k3s/readyz" in out, out
    assert "what to try next" in out
    assert "demo-password" not in out  # the K3s token is never shown


def test_ctrl_c_ends_the_demo_and_everything_it_started():
    """Ctrl-C reaches the whole foreground group (here: a session of its own); the demo and
    its etcd members, stand-ins and k3lb are all gone within a few seconds (it asks them all at
    once and kills what is left after 1.5 s; it used to take 40)."""
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "contrib", "demo.py"), "--k3lb", BIN,
                          "--api-port", str(free_port()), "--etcd-port", str(free_port()),
                          "--admin-port", str(free_port()), "--no-tour"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    seen = []
    for line in p.stdout:  # the demo's own signal that it is up and waiting
        seen.append(line)
        if "Ctrl-C stops the demo." in line:
            break
    assert p.poll() is None, "".join(seen)
    t0 = time.monotonic()
    os.killpg(p.pid, signal.SIGINT)
    p.wait(timeout=30)
    took = time.monotonic() - t0
    assert took < 5, "the demo took %.1f s to stop" % took
    try:
        os.killpg(p.pid, 0)
        left = True
    except ProcessLookupError:
        left = False
    assert not left, "processes of the demo are still running"
