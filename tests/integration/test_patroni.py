"""K3s's external datastore behind k3lb, always on the writable primary: a real Patroni cluster
(Debian's patroni, one etcd member as its store, two PostgreSQL 15 nodes in synchronous
replication) with k3lb probing Patroni's REST API (GET /primary, check_port) and sending
traffic to PostgreSQL. Beside it, in the same run on the same cluster, HAProxy with the recipe
Patroni documents (option httpchk OPTIONS /primary, check port, inter 3s fall 3 rise 2,
on-marked-down shutdown-sessions). A bounded writer through each inserts rows; the primary
dies (Patroni and PostgreSQL killed at once), later a planned switchover. Asserted: writes
resume through k3lb, no acknowledged row is lost, and after a switchover k3lb's writes fail for
at most one check interval once the new primary answers."""
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from k3lbtest import K3lb, free_port

from contrib.lab.patroni import PatroniCluster  # noqa: E402

psycopg2 = pytest.importorskip("psycopg2")
pytestmark = pytest.mark.skipif(
    not shutil.which("patroni") or not shutil.which("haproxy") or
    not os.path.isdir("/usr/lib/postgresql/15/bin"),
    reason="needs patroni, haproxy and PostgreSQL 15")

CHECK_INTERVAL_S = 1.0  # the shipped example's health.interval (k3s-patroni-datastore.yaml)


def k3lb_config(admin, port, sql_port, nodes):
    """contrib/examples/k3s-patroni-datastore.yaml's backend, on this lab's ports: each node's
    REST API has a port of its own here, so check_port per server instead of health.port.
    Beside it, on sql_port, k3s-postgres-datastore.yaml's: the same timings, but the check logs
    in with libpq and asks pg_is_in_recovery() (the lab's superuser, password from the env)."""
    servers = "\n".join('      - {address: "%s", check_port: %d}' % (n.addr, n.rest_port)
                        for n in nodes)
    timing = ("interval: 1s, timeout: 800ms, rise: 1,\n"
              "             fall: 1, down_interval: 1s, on_down: close")
    return ("admin: {listen: \"127.0.0.1:%d\"}\n"
            "frontends:\n  - {name: datastore, listen: [\"127.0.0.1:%d\"], backend: postgres}\n"
            "  - {name: datastore-sql, listen: [\"127.0.0.1:%d\"], backend: postgres-sql}\n"
            "backends:\n  - name: postgres\n    when_all_down: refuse\n    servers:\n%s\n"
            "    health: {kind: http, path: /primary, %s}\n"
            "  - name: postgres-sql\n    when_all_down: refuse\n    servers: [%s]\n"
            "    health: {kind: postgres, %s,\n"
            "             database: {user: postgres, password_env: K3LB_TEST_PG_PASSWORD,\n"
            "                        role_required: primary}}\n"
            % (admin, port, sql_port, servers, timing,
               ", ".join('"%s"' % n.addr for n in nodes), timing))


def haproxy_config(port, nodes):
    servers = "".join("    server %s %s maxconn 100 check port %d\n" % (n.name, n.addr,
                                                                         n.rest_port)
                      for n in nodes)
    return ("global\n    maxconn 100\n"
            "defaults\n    mode tcp\n    retries 2\n    timeout client 30m\n"
            "    timeout connect 4s\n    timeout server 30m\n    timeout check 5s\n"
            "listen primary\n    bind 127.0.0.1:%d\n    option httpchk OPTIONS /primary\n"
            "    http-check expect status 200\n"
            "    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions\n%s"
            % (port, servers))


class Writer(threading.Thread):
    """Inserts one row every 20 ms through port, reconnecting after any error; remembers
    which ids were acknowledged and when each attempt succeeded or failed. Bounded in count."""

    def __init__(self, port, via, limit=20000):
        super().__init__(daemon=True)
        self.port, self.via, self.limit = port, via, limit
        self.acked, self.events = [], []
        self.stop = threading.Event()

    def run(self):
        conn = None
        for i in range(self.limit):
            if self.stop.is_set():
                break
            t = time.monotonic()
            try:
                if conn is None:
                    conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                            dbname="postgres", connect_timeout=2,
                                            options="-c statement_timeout=2000")
                    conn.autocommit = True
                with conn.cursor() as c:
                    c.execute("INSERT INTO rows (id, via) VALUES (%s, %s)", (i, self.via))
                self.acked.append(i)
                self.events.append((t, True))
            except psycopg2.Error:
                self.events.append((t, False))
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.02)
        if conn is not None:
            conn.close()

    def first_ok_after(self, t0, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = [t for t, good in list(self.events) if good and t > t0]
            if ok:
                return ok[0]
            time.sleep(0.05)
        raise AssertionError("no write through %s succeeded within %ss" % (self.via, timeout))

    def fails_between(self, a, b):
        return [t for t, good in list(self.events) if not good and a <= t <= b]

    def outage(self, a, b):
        """Seconds from the first failed write in [a, b] to the success after the last one."""
        fails = self.fails_between(a, b)
        if not fails:
            return 0.0
        end = min((t for t, good in self.events if good and t > fails[-1]), default=b)
        return end - fails[0]


def query(port, sql):
    with psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                          connect_timeout=5) as conn, conn.cursor() as c:
        c.execute(sql)
        return c.fetchall() if c.description else None


def only_primary_up(k, nodes, primary):
    """Both k3lb backends (REST API check, libpq role check) pass the primary alone."""
    want = ["up" if n is primary else "down" for n in nodes]
    k.wait_for(lambda st: all([s["state"] for s in b["servers"]] == want
                              for b in st["backends"]), what="only %s up" % primary.name)


@pytest.fixture
def cluster():
    c = PatroniCluster()
    try:
        c.start()
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()


def test_writes_follow_the_patroni_primary(cluster, tmp_path, capsys):
    nodes = cluster.nodes
    k = K3lb(str(tmp_path))
    k.port, k.admin_port, ha_port, sql_port = free_port(), free_port(), free_port(), free_port()
    k.start(k3lb_config(k.admin_port, k.port, sql_port, nodes),
            env={"K3LB_TEST_PG_PASSWORD": "lab"})
    ha_cfg = tmp_path / "haproxy.cfg"
    ha_cfg.write_text(haproxy_config(ha_port, nodes))
    ha = subprocess.Popen(["haproxy", "-db", "-f", str(ha_cfg)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    writers = []
    try:
        leader = cluster.leader()
        only_primary_up(k, nodes, leader)
        query(k.port, "CREATE TABLE rows (id int, via text)")
        writers = [Writer(k.port, "k3lb"), Writer(sql_port, "k3lb-sql"), Writer(ha_port, "haproxy")]
        for w in writers:
            w.start()
        t = time.monotonic()
        for w in writers:  # HAProxy's first checks take rise x inter
            w.first_ok_after(t, timeout=30)

        # the primary's machine dies
        leader.kill()
        t_kill = time.monotonic()  # both processes are gone from here
        resumed = {w.via: w.first_ok_after(t_kill) - t_kill for w in writers}
        new = cluster.leader()
        assert new is not None and new is not leader, "a write succeeded with no primary"
        # the dead node comes back as a replica (pg_rewind), for the switchover
        leader.start()
        cluster.wait(lambda: leader.role() == "replica", 90, "the old primary a replica")
        cluster.wait(lambda: cluster.sync_standby() == leader.name, 90, "it in sync again")
        only_primary_up(k, nodes, new)

        # a planned switchover back; an idle session on the primary that is about to be
        # demoted must be closed by k3lb (on_down: close), so K3s reconnects to the new one
        idle = psycopg2.connect(host="127.0.0.1", port=k.port, user="postgres",
                                dbname="postgres", connect_timeout=5)
        idle.autocommit = True
        t_asked = time.monotonic()
        r = cluster.patronictl("switchover", "--leader", new.name, "--candidate", leader.name,
                               "--force", cluster.scope)
        assert r.returncode == 0, r.stdout + r.stderr
        cluster.wait(lambda: leader.role() == "primary", 60, "the switchover")
        t_switch = time.monotonic()  # the new primary answers /primary from here
        time.sleep(2 * CHECK_INTERVAL_S)  # writes after it, to see none fails any more
        with pytest.raises((psycopg2.OperationalError, psycopg2.InterfaceError)):
            with idle.cursor() as c:  # would answer (read-only) had it stayed open
                c.execute("SELECT 1")
        idle.close()
        for w in writers:
            w.stop.set()
            w.join(30)
        # one interval, plus a probe's timeout and a reconnect
        for w in writers[:2]:
            late = w.fails_between(t_switch + CHECK_INTERVAL_S + 1.0, time.monotonic())
            assert not late, "%s writes still failed %d times after the switch" % (w.via, len(late))
        # nothing acknowledged was lost: every acked id is on the final primary
        for w in writers:
            rows = {r[0] for r in query(k.port, "SELECT id FROM rows WHERE via = '%s'" % w.via)}
            missing = set(w.acked) - rows
            assert not missing, "%s: %d acknowledged rows lost" % (w.via, len(missing))
        end = time.monotonic()
        with capsys.disabled():
            print("\nPatroni datastore, k3lb (REST API check; libpq role check: k3lb-sql) beside "
                  "HAProxy (Patroni's recipe):")
            for w in writers:
                print("  %-8s primary killed: first write after %.2f s; switchover: writes "
                      "failed for %.2f s (%d attempts); %d rows acknowledged, none lost"
                      % (w.via, resumed[w.via], w.outage(t_asked, end),
                         len(w.fails_between(t_asked, end)), len(w.acked)))
        assert resumed["k3lb"] < 60 and resumed["k3lb-sql"] < 60
    except BaseException:
        print(cluster.logs())
        print(k.log()[-3000:])
        raise
    finally:
        for w in writers:
            w.stop.set()
        ha.kill()
        ha.wait()
        k.close()
