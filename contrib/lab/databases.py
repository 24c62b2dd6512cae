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
    """primary_of: make this a streaming standby of that (running) Postgres instead of a new
    cluster (pg_basebackup -R: it follows the primary and stays in recovery)."""

    def __init__(self, primary_of=None):
        self.bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.dir = _owned_tmpdir("postgres", "k3lb-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        if primary_of:
            cmd = [os.path.join(self.bindir, "pg_basebackup"), "-h", "127.0.0.1", "-p",
                   str(primary_of.port), "-U", "postgres", "-D", self.data, "-R", "-X", "stream",
                   "--no-sync"]
        else:
            cmd = [os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust", "-U",
                   "postgres", "--no-sync"]
        r = _as("postgres", cmd)
        if r.returncode:
            raise RuntimeError("%s failed: %s" % (os.path.basename(cmd[0]), r.stderr))

    def require_passwords(self):
        """TCP logins other than replication must then prove a password (SCRAM); reloads."""
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "host replication all 127.0.0.1/32 trust\n"
                    "host all postgres 127.0.0.1/32 trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        self.sql("SELECT pg_reload_conf()")

    def enable_tls(self, crt, key):
        """TLS with this certificate (copied in, owned by postgres as it demands); reloads."""
        pw = pwd.getpwnam("postgres")
        for src, name in ((crt, "server.crt"), (key, "server.key")):
            dst = os.path.join(self.dir, name)
            shutil.copy(src, dst)
            os.chown(dst, pw.pw_uid, pw.pw_gid)
            os.chmod(dst, 0o600)
        self.sql("ALTER SYSTEM SET ssl_cert_file = '%s'" % os.path.join(self.dir, "server.crt"))
        self.sql("ALTER SYSTEM SET ssl_key_file = '%s'" % os.path.join(self.dir, "server.key"))
        self.sql("ALTER SYSTEM SET ssl = on")
        self.sql("SELECT pg_reload_conf()")

    def sql(self, query):
        r = _as("postgres", [os.path.join(self.bindir, "psql"), "-X", "-A", "-t", "-h", self.dir,
                             "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-v",
                             "ON_ERROR_STOP=1", "-c", query])
        if r.returncode:
            raise RuntimeError("psql: %s" % r.stderr)
        return r.stdout.strip()

    def promote(self):
        r = _as("postgres", [os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w",
                             "promote"])
        if r.returncode:
            raise RuntimeError("pg_ctl promote failed: " + r.stderr + r.stdout)

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
    """args: more mariadbd options (--server-id, --log-bin, --read-only, wsrep settings)."""

    def __init__(self, args=()):
        self.dir = _owned_tmpdir("mysql", "k3lb-mariadb-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.args = list(args)
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
               "--innodb-buffer-pool-size=16M", "--skip-name-resolve"]
        if not any(a.startswith("--log-bin") for a in self.args):
            cmd.append("--skip-log-bin")
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, **_user_kw("mysql"))
        _wait_port(self.port, self.proc, "mariadbd")
        return self

    def sql(self, query, user="root", password=None, port=None):
        """Runs query (as root over the socket, or as user over TCP to port); rows as lists."""
        cmd = ["mariadb", "--no-defaults", "-N", "-B", "-u", user, "-e", query]
        if port:
            cmd += ["--protocol=tcp", "-h", "127.0.0.1", "-P", str(port)]
        else:
            cmd += ["-S", os.path.join(self.dir, "sock")]
        if password:
            cmd.append("-p" + password)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if r.returncode:
            raise RuntimeError("mariadb: %s" % r.stderr.strip())
        return [line.split("\t") for line in r.stdout.splitlines()]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
