"""Throwaway PostgreSQL and MariaDB servers on loopback, run as their unprivileged system users
(Debian's postgresql and mariadb-server packages), in private temporary directories."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

from contrib.lab.net import free_port


def _owned_tmpdir(user, prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    pw = pwd.getpwnam(user)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def _user_kw(user):
    """Popen arguments that run a command as user (when we are root; the servers refuse root)."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [], "cwd": "/tmp"}


def _as(user, cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **_user_kw(user), **kw)


def _wait_port(port, proc, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s did not listen on %d within %ss" % (what, port, timeout))


class Postgres:
    def __init__(self):
        self.bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.dir = _owned_tmpdir("postgres", "k3lb-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        r = _as("postgres", [os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust",
                             "-U", "postgres", "--no-sync"])
        if r.returncode:
            raise RuntimeError("initdb failed: " + r.stderr)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        r = _as("postgres", [os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-t",
                             "60", "-l", os.path.join(self.dir, "log"), "-o",
                             "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off"
                             % (self.port, self.dir), "start"])
        if r.returncode:
            raise RuntimeError("pg_ctl start failed: " + r.stderr + r.stdout)
        _wait_port(self.port, None, "postgres")
        return self

    def stop(self):
        _as("postgres", [os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate",
                         "-w", "stop"])

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class MariaDB:
    def __init__(self):
        self.dir = _owned_tmpdir("mysql", "k3lb-mariadb-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.proc = None
        r = _as("mysql", ["mariadb-install-db", "--no-defaults", "--datadir=" + self.data,
                          "--auth-root-authentication-method=normal", "--skip-test-db"])
        if r.returncode:
            raise RuntimeError("mariadb-install-db failed: " + r.stderr + r.stdout)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        log = open(os.path.join(self.dir, "log"), "a")
        cmd = ["mariadbd", "--no-defaults", "--datadir=" + self.data,
               "--socket=" + os.path.join(self.dir, "sock"), "--port=%d" % self.port,
               "--bind-address=127.0.0.1", "--pid-file=" + os.path.join(self.dir, "pid"),
               "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--skip-name-resolve"]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, **_user_kw("mysql"))
        _wait_port(self.port, self.proc, "mariadbd")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
