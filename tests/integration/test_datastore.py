"""Database checks that log in and require a role, against real servers: PostgreSQL with a
streaming standby (libpq, SCRAM passwords), MariaDB with a replica (real replication,
read_only on the replica; MariaDB Connector/C) and a one-node Galera cluster. Only the writable
primary gets K3s's connections; a role change moves them; the password is never shown."""
import glob
import os
import subprocess

import pytest

from test_health import servers, silent, start, wait_server  # noqa: F401 (fixture)

from contrib.lab.databases import MariaDB, Postgres  # noqa: E402
from contrib.lab.net import free_port  # noqa: E402
from contrib.lab.pki import Pki  # noqa: E402

PG_SECRET = "pg-Secret-7f3a"
MY_SECRET = "my-Secret-91c2"
FAST = "interval: 300ms, timeout: 250ms, rise: 1, fall: 1, down_interval: 300ms"
# For backends that carry the test's own traffic: one slow login on a loaded (sanitized) CI
# machine must not take the primary down and refuse a client the test expects served.
STEADY = "interval: 1s, timeout: 1s, rise: 1, fall: 2, down_interval: 300ms"


def assert_secret_hidden(k, secret):
    assert secret not in repr(k.status()), "the password is shown in /status"
    assert secret not in k.log(), "the password is logged"


def frontend_port(k, name):
    for f in k.status()["frontends"]:
        if f["name"] == name:
            return int(f["listen"][0].rsplit(":", 1)[1])
    raise KeyError(name)


def psql_through(port, query):
    """psql as the health user through k3lb (the password from the environment)."""
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    r = subprocess.run([os.path.join(bindir, "psql"), "-X", "-A", "-t", "-h", "127.0.0.1", "-p",
                        str(port), "-U", "k3lb_health", "-d", "postgres", "-c", query],
                       capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, PGPASSWORD=PG_SECRET, PGCONNECT_TIMEOUT="5"))
    return r.returncode, r.stdout.strip(), r.stderr.strip()


@pytest.fixture
def pg_pair():
    primary = Postgres()
    standby = None
    try:
        primary.start()
        primary.sql("CREATE ROLE k3lb_health LOGIN PASSWORD '%s'" % PG_SECRET)
        primary.require_passwords()
        standby = Postgres(primary_of=primary).start()
        yield primary, standby
    finally:
        for p in (standby, primary):
            if p:
                p.close()


def test_postgres_sslmode(k3lb, pg_pair, tmp_path):
    """sslmode as libpq's: verify-full checks the chain and the name; require fails on a
    server without TLS; prefer falls back to plain."""
    primary, standby = pg_pair
    pki = Pki(str(tmp_path / "pki"))
    crt, key = pki.issue("pg", sans=["DNS:pg.lab.internal"])
    primary.enable_tls(crt, key)
    secret = tmp_path / "pg.pass"
    secret.write_text(PG_SECRET)
    login = "user: k3lb_health, password_file: %s" % secret
    k = start(k3lb, """
  - name: full
    servers: ["%(p)s"]
    health: {kind: postgres, %(fast)s, tls: {ca: %(ca)s, server_name: pg.lab.internal},
             database: {%(login)s, sslmode: verify-full}}
  - name: wrongname
    servers: ["%(p)s"]
    health: {kind: postgres, %(fast)s, tls: {ca: %(ca)s, server_name: other.lab.internal},
             database: {%(login)s, sslmode: verify-full}}
  - name: required
    servers: ["%(s)s"]
    health: {kind: postgres, %(fast)s, database: {%(login)s, sslmode: require}}
  - name: preferred
    servers: ["%(s)s"]
    health: {kind: postgres, %(fast)s, database: {%(login)s}}
""" % {"p": primary.addr, "s": standby.addr, "fast": FAST, "ca": pki.ca_crt, "login": login})
    wait_server(k, "full", primary.addr, "up", "ok")
    s = wait_server(k, "wrongname", primary.addr, "down", "tls_error")
    assert "does not match host name \"other.lab.internal\"" in s["check"]["detail"], s
    s = wait_server(k, "required", standby.addr, "down", "tls_error")
    assert "server does not support SSL" in s["check"]["detail"], s
    wait_server(k, "preferred", standby.addr, "up", "ok")
    assert_secret_hidden(k, PG_SECRET)


def test_postgres_login_role_and_promotion(k3lb, pg_pair, silent, tmp_path, monkeypatch):
    primary, standby = pg_pair
    secret, bad = tmp_path / "pg.pass", tmp_path / "bad.pass"
    secret.write_text(PG_SECRET + "\n")
    bad.write_text("wrong\n")
    monkeypatch.setenv("K3LB_TEST_PG_PASS", PG_SECRET)
    k = start(k3lb, """
  - name: writer
    when_all_down: refuse
    servers: ["%(p)s", "%(s)s"]
    health: {kind: postgres, %(steady)s,
             database: {user: k3lb_health, password_file: %(file)s, role_required: primary,
                        sslmode: disable}}
  - name: reader
    servers: ["%(p)s", "%(s)s"]
    health: {kind: postgres, %(fast)s,
             database: {user: k3lb_health, password_env: K3LB_TEST_PG_PASS,
                        role_required: replica, name: postgres}}
  - name: badpass
    servers: ["%(p)s", "%(q)s"]
    health: {kind: postgres, %(fast)s,
             database: {user: k3lb_health, password_file: %(bad)s}}
""" % {"p": primary.addr, "s": standby.addr, "fast": FAST, "file": secret, "bad": bad,
       "q": silent(), "steady": STEADY})
    s = wait_server(k, "writer", primary.addr, "up", "ok")
    assert s["check"]["detail"] == "logged in as k3lb_health: the primary", s
    s = wait_server(k, "writer", standby.addr, "down", "wrong_role")
    assert s["check"]["detail"] == "in recovery (a replica), but the primary is required", s
    wait_server(k, "reader", standby.addr, "up", "ok")
    wait_server(k, "reader", primary.addr, "down", "wrong_role")
    s = wait_server(k, "badpass", primary.addr, "down", "bad_status")
    assert s["check"]["detail"] == \
        "FATAL: password authentication failed for user \"k3lb_health\"", s
    # A server that never answers: libpq's connection is abandoned at the deadline, each time.
    quiet = servers(k.status(), "badpass")[1]["address"]
    wait_server(k, "badpass", quiet, "down", "timeout")

    port = frontend_port(k, "writer")
    for _ in range(5):  # every connection lands on the primary
        assert psql_through(port, "SELECT pg_is_in_recovery()")[1] == "f"

    # Failover by hand: the primary stops, the standby is promoted. Until then the writer
    # refuses (no server passes) rather than sending K3s to a read-only standby.
    primary.stop()
    wait_server(k, "writer", primary.addr, "down", "refused")
    rc, out, err = psql_through(port, "SELECT 1")
    assert rc != 0, "a connection was let through to the standby"
    standby.promote()
    s = wait_server(k, "writer", standby.addr, "up", "ok")
    assert s["check"]["detail"] == "logged in as k3lb_health: the primary"
    assert psql_through(port, "SELECT pg_is_in_recovery()")[1] == "f"
    assert_secret_hidden(k, PG_SECRET)


# ---- MariaDB ----------------------------------------------------------------------------------

@pytest.fixture
def maria_pair():
    """A primary (binlog, server 1) and a replica of it (server 2, read_only)."""
    primary = MariaDB(["--server-id=1", "--log-bin=mysql-bin", "--binlog-format=ROW"])
    replica = MariaDB(["--server-id=2", "--read-only=1", "--log-bin=mysql-bin"])
    try:
        primary.start()
        replica.start()
        primary.sql("CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl';"
                    "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';"
                    "CREATE USER 'k3lb_health'@'127.0.0.1' IDENTIFIED BY '%s';"
                    "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app';"
                    "GRANT ALL ON *.* TO 'app'@'127.0.0.1';" % MY_SECRET)
        replica.sql("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, "
                    "MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos;"
                    "START SLAVE;" % primary.port)
        yield primary, replica
    finally:
        replica.close()
        primary.close()


def server_id_through(port):
    return maria_app_sql(port, "SELECT @@server_id")[0][0]


def maria_app_sql(port, query):
    r = subprocess.run(["mariadb", "--no-defaults", "-N", "-B", "--protocol=tcp", "-h",
                        "127.0.0.1", "-P", str(port), "-uapp", "-papp",
                        "--connect-timeout=5", "-e", query],
                       capture_output=True, text=True, timeout=20)
    if r.returncode:
        raise RuntimeError(r.stderr.strip())
    return [line.split("\t") for line in r.stdout.splitlines()]


def test_mariadb_primary_replica(k3lb, maria_pair, silent, tmp_path):
    primary, replica = maria_pair
    secret = tmp_path / "my.pass"
    secret.write_text(MY_SECRET + "\n")
    # The health user reaches the replica through replication: the check logs in there too.
    k = start(k3lb, """
  - name: writer
    when_all_down: refuse
    servers: ["%(p)s", "%(r)s"]
    health: {kind: mysql, %(steady)s,
             database: {user: k3lb_health, password_file: %(file)s, role_required: primary}}
  - name: noauth
    servers: ["%(p)s", "%(q)s"]
    health: {kind: mysql, %(fast)s, database: {user: k3lb_health, sslmode: disable}}
""" % {"p": primary.addr, "r": replica.addr, "fast": FAST, "file": secret, "q": silent(),
       "steady": STEADY})
    s = wait_server(k, "writer", primary.addr, "up", "ok")
    assert s["check"]["detail"] == "logged in as k3lb_health: writable (a primary)", s
    s = wait_server(k, "writer", replica.addr, "down", "wrong_role")
    assert s["check"]["detail"] == \
        "read-only (a replica), but a writable primary is required", s
    s = wait_server(k, "noauth", primary.addr, "down", "bad_status")
    assert "Access denied for user 'k3lb_health'" in s["check"]["detail"], s
    assert "(error 1045)" in s["check"]["detail"]
    # A server that never greets: the connector is cancelled mid-login at the deadline.
    wait_server(k, "noauth", servers(k.status(), "noauth")[1]["address"], "down", "timeout")

    port = frontend_port(k, "writer")
    assert {server_id_through(port) for _ in range(6)} == {"1"}
    # A session held open on the primary, to see on_down: close end it at the switch.
    held = subprocess.Popen(["mariadb", "--no-defaults", "-N", "-B", "--protocol=tcp", "-h",
                             "127.0.0.1", "-P", str(port), "-uapp", "-papp", "-e",
                             "SELECT @@server_id; SELECT SLEEP(60)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    k.wait_for(lambda st: servers(st, "writer")[0]["connections_active"] >= 1, what="held session")

    # A switchover as an operator or orchestrator does it: the primary turns read-only, the
    # replica stops replicating and turns writable.
    primary.sql("SET GLOBAL read_only = 1")
    replica.sql("STOP SLAVE; SET GLOBAL read_only = 0")
    wait_server(k, "writer", primary.addr, "down", "wrong_role")
    wait_server(k, "writer", replica.addr, "up", "ok")
    out, _ = held.communicate(timeout=20)
    assert held.returncode != 0, "the session on the demoted primary was not closed"
    assert out.split() == ["1"]
    assert {server_id_through(port) for _ in range(6)} == {"2"}
    assert_secret_hidden(k, MY_SECRET)


GALERA = "/usr/lib/galera/libgalera_smm.so"


@pytest.mark.skipif(not os.path.exists(GALERA), reason="galera-4 is not installed")
def test_galera_node_synced(k3lb, tmp_path):
    """One bootstrapped Galera node: synced passes; desynced (a donor) fails the galera check."""
    gport, ist = free_port(), free_port()
    node = MariaDB(["--wsrep-on=ON", "--wsrep-provider=" + GALERA,
                    "--wsrep-cluster-address=gcomm://", "--wsrep-node-address=127.0.0.1",
                    "--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:%d;"
                    "ist.recv_addr=127.0.0.1:%d" % (gport, ist),
                    "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2"])
    try:
        try:
            node.start()
        except RuntimeError as e:
            pytest.skip("a Galera node does not start here: %s" % e)
        node.sql("CREATE USER 'k3lb_health'@'127.0.0.1' IDENTIFIED BY '%s'" % MY_SECRET)
        secret = tmp_path / "my.pass"
        secret.write_text(MY_SECRET)
        k = start(k3lb, """
  - name: galera
    servers: ["%s"]
    health: {kind: mysql, %s,
             database: {user: k3lb_health, password_file: %s, galera: true}}
""" % (node.addr, FAST, secret))
        s = wait_server(k, "galera", node.addr, "up", "ok")
        assert s["check"]["detail"] == \
            "logged in as k3lb_health: writable (a primary), galera node synced", s
        node.sql("SET GLOBAL wsrep_desync = ON")
        s = wait_server(k, "galera", node.addr, "down", "wrong_role")
        assert s["check"]["detail"].startswith("galera wsrep_local_state 2 ("), s
        node.sql("SET GLOBAL wsrep_desync = OFF")
        wait_server(k, "galera", node.addr, "up", "ok")
    finally:
        node.close()
