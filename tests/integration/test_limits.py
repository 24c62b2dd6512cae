"""Limits an edge gateway keeps for its servers. Per-server maxconn and the backend's queue:
against a real PostgreSQL whose max_connections is low, clients straight to it get "too many
clients", the same clients through k3lb (maxconn under the server's limit) all get their query
answered, waiting their turn; the queue's rules against test servers: oldest first across
workers, at most max_queue waiting (one more is closed at once), queue_timeout closes a client
that waited too long; all counted. Slow start: a server back from a failure gets a growing
share of new connections over slowstart, not at k3lb's start. Per-source limits: clients from
several 127.0.0.0/8 addresses, each held to its own count and rate. agent-check: a small agent
beside each server says its weight, drain, ready, down and up, as HAProxy's agents do."""
import concurrent.futures
import glob
import os
import subprocess
import time

import pytest

from k3lbtest import (LineServer, ask_name, connect, free_port, from_source, read_line,
                      wait_server)
from contrib.lab.databases import Postgres

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
CLIENTS = 16


def psql(port, query, user="app"):
    r = subprocess.run([os.path.join(PG_BIN[-1], "psql"), "-X", "-A", "-t", "-h", "127.0.0.1",
                        "-p", str(port), "-U", user, "-d", "postgres", "-c", query],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PGCONNECT_TIMEOUT="30"))
    return r.returncode, r.stdout.strip() + r.stderr.strip()


def burst(port):
    """CLIENTS psql at once, each holding its connection 0.5 s: their results."""
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
        return list(ex.map(lambda _: psql(port, "SELECT pg_sleep(0.5), 'ok'"), range(CLIENTS)))


@pytest.mark.skipif(not PG_BIN, reason="needs postgresql")
def test_postgres_max_connections(k3lb):
    pg = Postgres()
    try:
        pg.start()
        pg.sql("CREATE ROLE app LOGIN")
        pg.sql("ALTER SYSTEM SET max_connections = 8")  # 5 for roles that are not superusers
        pg.stop()
        pg.start()
        direct = burst(pg.port)
        refused = [out for rc, out in direct if rc]
        assert refused and all("connection slots are reserved" in out or
                               "too many clients" in out for out in refused), direct

        k = k3lb()
        k.admin_port = free_port()
        port = free_port()
        k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
                "  - {name: pg, listen: [\"127.0.0.1:%d\"], backend: pg}\n"
                "backends:\n  - name: pg\n    maxconn: 4\n    queue_timeout: 30s\n"
                "    servers: [\"%s\"]\n    health: {kind: tcp}\n"
                % (k.admin_port, port, pg.addr))
        through = burst(port)
        assert all(rc == 0 and "ok" in out for rc, out in through), through
        q = k.status()["backends"][0]["queue"]
        assert q["total"] >= CLIENTS - 4 and q["timeouts"] == 0 and q["full"] == 0, q
        assert k.status()["backends"][0]["servers"][0]["maxconn"] == 4
    finally:
        pg.close()


def wait_queue(k, waiting, timeout=10):
    return k.wait_for(lambda st: st["backends"][0]["queue"]["waiting"] == waiting, timeout,
                      "%d waiting" % waiting)


def test_queue_order_bound_and_timeout(k3lb, backends):
    """maxconn 1, max_queue 2: the slot's holder, then two waiting, a fourth closed at once;
    the waiting ones get the slot in the order they came as it frees; on another backend, a
    client waiting longer than queue_timeout is closed."""
    srv = backends(mode="name", name="slot")
    slow = backends(mode="name", name="slow")
    k = k3lb()
    k.admin_port = free_port()
    port, tport = free_port(), free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
            "  - {name: q, listen: [\"127.0.0.1:%d\"], backend: q}\n"
            "  - {name: t, listen: [\"127.0.0.1:%d\"], backend: t}\n"
            "backends:\n"
            "  - {name: q, maxconn: 1, max_queue: 2, queue_timeout: 60s, servers: [\"%s\"]}\n"
            "  - {name: t, queue_timeout: 300ms, servers: [{address: \"%s\", maxconn: 1}]}\n"
            % (k.admin_port, port, tport, srv.addr, slow.addr))
    holder = connect(port)
    assert read_line(holder) == "slot"
    first = connect(port)
    wait_queue(k, 1)
    second = connect(port)
    wait_queue(k, 2)
    extra = connect(port)  # over max_queue: closed at once
    assert extra.recv(100) == b""
    extra.close()
    holder.close()  # its slot goes to the oldest waiting
    assert read_line(first) == "slot"
    st = wait_queue(k, 1)
    first.close()
    assert read_line(second) == "slot"
    second.close()
    q = st["backends"][0]["queue"]
    assert q["total"] == 2 and q["full"] == 1 and q["timeouts"] == 0, q

    t_holder = connect(tport)
    assert read_line(t_holder) == "slow"
    late = connect(tport)
    t0 = time.monotonic()
    assert late.recv(100) == b""  # closed by queue_timeout
    assert time.monotonic() - t0 >= 0.25
    late.close()
    t_holder.close()
    st = k.status()
    assert st["backends"][1]["queue"]["timeouts"] == 1, st["backends"][1]
    m = k.http("GET", "/metrics")[1].decode()
    assert 'k3lb_backend_queue_full_total{backend="q"} 1' in m
    assert 'k3lb_backend_queue_timeouts_total{backend="t"} 1' in m


def shares(port, n):
    """Names of the servers n new connections went to, counted."""
    got = {}
    for _ in range(n):
        name = ask_name(port)
        got[name] = got.get(name, 0) + 1
    return got


def test_slowstart(k3lb, backends):
    """Two servers of weight 1, slowstart 6s (one worker: one round-robin): both take their
    whole share from k3lb's start; one killed and back on its port ramps: at first a small
    share (1/16 of its weight, growing) and an effective weight under 1 in /status, the half
    again once slowstart has passed."""
    a = backends(mode="name", name="a")
    b = backends(mode="name", name="b")
    port = free_port()
    k = k3lb()
    k.admin_port = free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nworkers: 1\nfrontends:\n"
            "  - {name: s, listen: [\"127.0.0.1:%d\"], backend: s}\n"
            "backends:\n  - name: s\n    slowstart: 6s\n    servers: [\"%s\", \"%s\"]\n"
            "    health: {kind: tcp, interval: 100ms, timeout: 90ms, down_interval: 100ms,\n"
            "             rise: 1, fall: 1}\n"
            % (k.admin_port, port, a.addr, b.addr))
    for s in k.status()["backends"][0]["servers"]:
        assert s["effective_weight"] == 1, s  # no slow start at k3lb's start
    assert shares(port, 20) == {"a": 10, "b": 10}

    b.kill()
    wait_server(k, "s", b.addr, "down")
    b = backends(mode="name", name="b", port=b.port)
    srv = wait_server(k, "s", b.addr, "up")
    assert srv["effective_weight"] < 1, srv
    early = shares(port, 30)  # within the first second or two of the six
    assert 1 <= early.get("b", 0) <= 9, early  # 1/17 of the picks at first, growing

    k.wait_for(lambda st: st["backends"][0]["servers"][1]["effective_weight"] == 1, 10,
               "slow start over")
    late = shares(port, 40)
    assert abs(late["a"] - late["b"]) <= 2, late


def test_source_limits(k3lb, backends):
    """source_max_conns 2: a third connection from one address is reset, another address is
    served, and a slot given back serves the first again; source_max_rate 5 a second: a quick
    run of connections from one address gets about five of them, another address its own."""
    srv = backends(mode="name", name="srv")
    cport, rport = free_port(), free_port()
    k = k3lb()
    k.admin_port = free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
            "  - {name: c, listen: [\"127.0.0.1:%d\"], backend: s, source_max_conns: 2}\n"
            "  - {name: r, listen: [\"127.0.0.1:%d\"], backend: s, source_max_rate: 5}\n"
            "backends:\n  - {name: s, servers: [\"%s\"]}\n"
            % (k.admin_port, cport, rport, srv.addr))
    held = [from_source(cport, "127.0.0.2") for _ in range(2)]
    assert [line for _, line in held] == ["srv", "srv"]
    over, line = from_source(cport, "127.0.0.2")
    assert line is None
    over.close()
    other, line = from_source(cport, "127.0.0.3")
    assert line == "srv"
    other.close()
    held[0][0].close()
    k.wait_for(lambda st: st["frontends"][0]["connections_active"] == 1, 10, "one closed")
    again, line = from_source(cport, "127.0.0.2")
    assert line == "srv"
    again.close()
    held[1][0].close()

    got = []
    t0 = time.monotonic()
    for _ in range(12):
        s, line = from_source(rport, "127.0.0.4")
        s.close()
        got.append(line)
    quick = time.monotonic() - t0 < 1.0  # all within about one sliding second
    served = sum(1 for line in got if line)
    assert served >= 5 and (served <= 7 or not quick), got
    assert got[:5] == ["srv"] * 5, got
    s, line = from_source(rport, "127.0.0.5")
    s.close()
    assert line == "srv"
    st = {f["name"]: f for f in k.status()["frontends"]}
    assert st["c"]["source_limits"]["limited_conns"] == 1, st["c"]
    assert st["r"]["source_limits"]["limited_rate"] == 12 - served, st["r"]
    assert "source_limited" in k.log()
    m = k.http("GET", "/metrics")[1].decode()
    assert 'k3lb_frontend_source_limited_conns_total{frontend="c"} 1' in m


def test_agent_check(k3lb, backends):
    """Two servers, each with an agent on the same port of its own address: 25% gives one a
    quarter of its weight, drain takes it out of new connections, ready brings it back, down
    (with a description) takes it down whatever its health check says and up brings it back;
    an agent that stops answering changes nothing."""
    a = backends(mode="name", name="a", host="127.0.0.1")
    b = backends(mode="name", name="b", host="127.0.0.2")
    aport = free_port()
    agents = [LineServer(host, aport, "up 100%") for host in ("127.0.0.1", "127.0.0.2")]
    port = free_port()
    k = k3lb()
    k.admin_port = free_port()
    try:
        k.start("admin: {listen: \"127.0.0.1:%d\"}\nworkers: 1\nfrontends:\n"
                "  - {name: g, listen: [\"127.0.0.1:%d\"], backend: g}\n"
                "backends:\n  - name: g\n    servers: [\"%s\", \"%s\"]\n"
                "    health: {kind: tcp, agent: {port: %d, interval: 100ms, timeout: 90ms}}\n"
                % (k.admin_port, port, a.addr, b.addr, aport))

        def b_agent(detail):
            return k.wait_for(
                lambda st: st["backends"][0]["servers"][1].get("agent", {}).get("detail")
                == "answered '%s'" % detail, 10, "b's agent: %s" % detail)

        b_agent("up 100%")
        agents[1].line = "25%"
        st = b_agent("25%")
        srv = st["backends"][0]["servers"][1]
        assert srv["effective_weight"] == 0.25 and srv["agent"]["weight_percent"] == 25, srv
        got = shares(port, 40)
        assert 6 <= got.get("b", 0) <= 10, got  # a fifth: weights 1 and 1/4

        agents[1].line = "drain"
        assert b_agent("drain")["backends"][0]["servers"][1]["state"] == "drain"
        assert shares(port, 10) == {"a": 10}
        agents[1].line = "ready 100%"
        b_agent("ready 100%")
        assert shares(port, 10).get("b", 0) >= 4

        agents[1].line = "down # maintenance window"
        wait_server(k, "g", b.addr, "down")
        assert shares(port, 10) == {"a": 10}
        assert "its agent says down: maintenance window" in k.log()
        agents[1].line = "up"
        wait_server(k, "g", b.addr, "up")

        agents[1].close()  # no answer: nothing changes
        k.wait_for(lambda st: st["backends"][0]["servers"][1]["agent"]["detail"]
                   .startswith("no answer"), 10, "b's agent silent")
        assert wait_server(k, "g", b.addr, "up")["effective_weight"] == 1
    finally:
        for ag in agents:
            ag.close()
