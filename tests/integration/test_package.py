"""The Debian package (`cmake --build build --target package`): built from this build, installed
with dpkg, used (version, both manual pages, bash completion, `k3lb check` of a shipped
example, the system user, the units pointing at /usr/bin), and removed again. Runs on the plain
build as root only: it installs into the machine, and a sanitized binary is not what ships."""
import glob
import os
import subprocess

import pytest

from k3lbtest import BIN

BUILD = os.path.dirname(os.path.abspath(BIN))


def cache(name):
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.strip().split("=", 1)[1]
    except OSError:
        pass
    return None


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or cache("CMAKE_PROJECT_NAME") != "k3lb" or
    cache("K3LB_SANITIZE") == "ON" or cache("K3LB_FUZZ") == "ON" or
    subprocess.run(["dpkg-query", "-W", "k3lb"], capture_output=True).returncode == 0,
    reason="needs root, a plain build of k3lb, and no k3lb package installed already")


def run(*cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, (cmd, r.stdout[-3000:], r.stderr[-3000:])
    return r.stdout


def test_package_installs_works_and_removes():
    for old in glob.glob(os.path.join(BUILD, "k3lb_*.deb")):
        os.unlink(old)
    run("cmake", "--build", BUILD, "--target", "package")
    debs = glob.glob(os.path.join(BUILD, "k3lb_*_*.deb"))
    assert len(debs) == 1, debs
    info = run("dpkg-deb", "-I", debs[0])
    assert "Depends: adduser" in info and "libevent-core" in info, info
    files = run("dpkg-deb", "-c", debs[0])
    for path in ("./usr/bin/k3lb", "./usr/lib/systemd/system/k3lb.service",
                 "./usr/lib/systemd/system/k3lb-agent.service",
                 "./usr/share/man/man1/k3lb.1.gz", "./usr/share/man/man5/k3lb.yaml.5.gz",
                 "./usr/share/bash-completion/completions/k3lb",
                 "./usr/share/doc/k3lb/examples/k3s-embedded-etcd.yaml"):
        assert path in files, path
    run("dpkg", "-i", debs[0])
    try:
        assert run("/usr/bin/k3lb", "version").startswith("k3lb ")
        assert run("man", "-w", "k3lb").strip() == "/usr/share/man/man1/k3lb.1.gz"
        assert run("man", "-w", "5", "k3lb.yaml").strip() == "/usr/share/man/man5/k3lb.yaml.5.gz"
        page = run("sh", "-c", "MANWIDTH=100 man -P cat 5 k3lb.yaml")
        assert "frontends[].accept_proxy" in page and "CHECK KINDS" in page
        # the shipped example is only checked, never served (it names other addresses)
        out = run("/usr/bin/k3lb", "check", "-c",
                  "/usr/share/doc/k3lb/examples/k3s-embedded-etcd.yaml")
        assert ": ok (" in out
        assert ": ok (" in run("/usr/bin/k3lb", "check", "-c", "/etc/k3lb/k3lb.yaml")
        # the unit's start check is strict, as serve is: the first file names certificates
        # this host does not have yet, so the unit refuses to start (no restart loop of serve)
        unit = open("/usr/lib/systemd/system/k3lb.service").read()
        assert "ExecStartPre=/usr/bin/k3lb check --strict -c /etc/k3lb/k3lb.yaml" in unit
        r = subprocess.run(["/usr/bin/k3lb", "check", "--strict", "-c", "/etc/k3lb/k3lb.yaml"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "cannot read '/etc/k3lb/etcd/client.key'" in r.stderr
        user = run("getent", "passwd", "k3lb").split(":")
        assert int(user[2]) < 1000 and user[6].strip() in ("/usr/sbin/nologin", "/bin/false")
        unit = open("/usr/lib/systemd/system/k3lb.service").read()
        assert "ExecStart=/usr/bin/k3lb serve -c /etc/k3lb/k3lb.yaml" in unit
        assert not [l for l in unit.splitlines() if l.startswith("Exec") and "/usr/local" in l]
        done = run("bash", "-c", "source /usr/share/bash-completion/completions/k3lb; "
                   "COMP_WORDS=(k3lb ct); COMP_CWORD=1; _k3lb; echo ${COMPREPLY[@]}; "
                   "COMP_WORDS=(k3lb ctl dr); COMP_CWORD=2; _k3lb; echo ${COMPREPLY[@]};")
        assert done.split("\n")[:2] == ["ctl", "drain"], done
    finally:
        run("dpkg", "--purge", "k3lb")
    assert not os.path.exists("/usr/bin/k3lb")
    assert subprocess.run(["man", "-w", "k3lb"], capture_output=True).returncode != 0
    assert not os.path.exists("/etc/k3lb/k3lb.yaml")
