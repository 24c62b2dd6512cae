"""The demo the README starts with shows what k3lb is for, and works: every server checked with
its real check (k3s with the token, etcd with a client certificate), an etcd member killed and
detected, the quorum guard warning and clearing, a K3s server's 503 taken out, and what to try
next. Runs contrib/demo.py --tour-only on free ports."""
import os
import subprocess
import sys

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
