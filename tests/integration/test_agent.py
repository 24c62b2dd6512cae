"""k3lb agent against stand-in K3s servers: sticky ACTIVE server, fast failover of the agent's
websocket tunnel, fixed address as last resort with fail-back, learned lists from every source,
the state file, IPv6 loopback."""
import hashlib
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from k3lbtest import (BIN, ApiServer, ConnectProxy, WebSocket, ask_name, dns_responder,
                      free_port, https_get, reserve_port)

INTERVAL, TIMEOUT, FALL, RISE = 0.2, 0.15, 2, 2


@pytest.fixture
def lab(tmp_path, pki):
    """Makes stand-in servers sharing one certificate (valid for 127.0.0.0/8 and ::1)."""
    cert, key = pki.issue("k3s-server", ["IP:127.0.0.1", "IP:127.0.0.2", "IP:127.0.0.3",
                                         "IP:::1", "DNS:localhost"])
    made = []

    class Lab:
        ca = pki.ca_crt
        kubelet = pki.kubelet()  # what /v1-k3s/connect admits

        def server(self, name, **kw):
            a = ApiServer(str(tmp_path), cert, key, ca=pki.ca_crt, name=name, **kw)
            made.append(a)
            return a

    yield Lab()
    for a in made:
        a.close()


def agent(k3lb, tmp_path, fixed, extra=(), env=None, state=None, listen="127.0.0.1"):
    k = k3lb()
    k.port = free_port(listen)
    k.admin_port = free_port()
    k.state = state or str(tmp_path / "state" / "agent-load-balancer.json")
    args = ["--server", "https://%s" % fixed, "--listen",
            "[%s]:%d" % (listen, k.port) if ":" in listen else "%s:%d" % (listen, k.port),
            "--admin", "127.0.0.1:%d" % k.admin_port, "--state-file", k.state,
            "--check-interval", "%dms" % (INTERVAL * 1000),
            "--check-timeout", "%dms" % (TIMEOUT * 1000), "--fall", str(FALL),
            "--rise", str(RISE), "--refresh", "300ms", *extra]
    k.start(args=args, env=env, command="agent")
    return k


def states(k):
    return {s["address"]: s["state"] for s in k.status()["backends"][0]["servers"]}


def active(k):
    return [a for a, s in states(k).items() if s == "active"]


def name_via(port, ca, host="127.0.0.1"):
    """One TLS request through the agent: which server answered."""
    return https_get(port, "/name", ca, host=host)[1]


def test_sticky_and_websocket_survives_health_checks(k3lb, lab, tmp_path):
    s = [lab.server("s%d" % i) for i in range(3)]
    k = agent(k3lb, tmp_path, s[0].addr,
              ["--servers-from", "static:%s,%s,%s" % (s[0].addr, s[1].addr, s[2].addr)])
    k.wait_for(lambda st: active(k), what="an active server")
    names = {name_via(k.port, lab.ca) for _ in range(200)}
    assert len(names) == 1, names
    ws = WebSocket(k.port, lab.ca, client=lab.kubelet)
    assert ws.server in names
    deadline = time.monotonic() + 30
    n = 0
    while time.monotonic() < deadline:  # 30 s of health checks every 200 ms
        assert ws.echo(b"tick %d" % n)
        n += 1
        time.sleep(0.5)
    assert ws.echo(b"still the same tunnel")
    ws.close()
    st = k.status()["backends"][0]["servers"]
    assert sum(x["check"]["checks"] for x in st) > 3 * 100


def test_failover_on_kill_and_stop(k3lb, lab, tmp_path):
    s = {x: lab.server(x) for x in ("a", "b", "c")}
    k = agent(k3lb, tmp_path, s["a"].addr,
              ["--servers-from", "static:%s,%s,%s" % (s["a"].addr, s["b"].addr, s["c"].addr)])
    # every server checked and healthy first: a server still RECOVERING when the ACTIVE dies
    # may take a retried connection that the new ACTIVE's consolidation then closes
    # (PREFERRED is healthy too: a server that missed a check on a loaded machine and passed
    # again is first in line for a minute)
    k.wait_for(lambda st: sorted(v if v != "preferred" else "healthy"
                                 for v in states(k).values()) == ["active", "healthy", "healthy"],
               what="one active server, two healthy")
    ws = WebSocket(k.port, lab.ca, client=lab.kubelet)
    first = ws.server

    # SIGKILL of the ACTIVE server: its tunnel is closed within 1 s, the next connection lands
    # on another server, no new connection fails meanwhile
    errors, stop, killed = [], threading.Event(), threading.Event()

    def hammer():
        # Paced: flat out, the Python stand-ins miss their 150 ms checks, and a missed check
        # (not the kill) would decide which server becomes ACTIVE.
        while not stop.wait(0.02):
            started_after_kill = killed.is_set()
            try:
                name_via(k.port, lab.ca)
            except OSError as e:
                if started_after_kill:  # a request in flight at the kill may die with it
                    errors.append(repr(e))
    t = threading.Thread(target=hammer)
    t.start()
    try:
        s[first].kill()
        killed.set()
        took = ws.wait_closed(5)
        assert took < 1.0, took
        try:
            ws2 = WebSocket(k.port, lab.ca, client=lab.kubelet)
        except OSError as e:
            raise AssertionError("%r\n%s" % (e, k.log()))
        second = ws2.server
        assert second != first
        time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    assert not errors, errors[:3]

    # SIGSTOP (no reset, a silent partition): closed within interval * fall + timeout
    s[second].stop()
    took = ws2.wait_closed(10)
    assert took < INTERVAL * FALL + TIMEOUT + 1.0, took
    ws3 = WebSocket(k.port, lab.ca, client=lab.kubelet)
    third = ws3.server
    assert third not in (first, second)
    # it comes back: it must pass rise checks, and even then the tunnel stays where it is
    s[second].cont()
    k.wait_for(lambda st: states(k)[s[second].addr] in ("healthy", "preferred"),
               what="recovered server healthy")
    assert ws3.echo()
    assert name_via(k.port, lab.ca) == third
    ws3.close()
    assert "agent_state" in k.log()


def test_fixed_address_is_last_resort_with_failback(k3lb, lab, tmp_path):
    fixed = lab.server("fixed")
    # held, not just free: a server of a test running beside this one could otherwise listen
    # on it, pass the agent's /ping check, and take the traffic before its time (seen in CI)
    learned_port, hold = reserve_port()
    k = agent(k3lb, tmp_path, fixed.addr,
              ["--servers-from", "static:127.0.0.1:%d" % learned_port])
    # the learned server is not running: the fixed address carries the traffic
    k.wait_for(lambda st: states(k).get(fixed.addr) == "active", what="fixed address active")
    st = {s["address"]: s for s in k.status()["backends"][0]["servers"]}
    assert st[fixed.addr]["default"] is True
    ws = WebSocket(k.port, lab.ca, client=lab.kubelet)
    assert ws.server == "fixed"
    # the learned server starts: after rise checks traffic moves to it, and the tunnel through
    # the fixed address is closed so that it reconnects there
    hold.close()
    learned = lab.server("learned", port=learned_port)
    took = ws.wait_closed(10)
    assert took < 10
    assert states(k)["127.0.0.1:%d" % learned_port] == "active"
    assert states(k)[fixed.addr] == "standby"
    assert WebSocket(k.port, lab.ca, client=lab.kubelet).server == "learned"
    assert learned.addr  # keep it alive until here


def test_admin_api_list_changes(k3lb, lab, tmp_path):
    s = {x: lab.server(x) for x in ("a", "b", "c")}
    k = agent(k3lb, tmp_path, s["a"].addr)
    status, body = k.http("PUT", "/servers", json.dumps([s["a"].addr, s["b"].addr]))
    assert status == 200, body
    # both checked first: with the other one still unchecked, the active one (the fixed
    # address) would stay as the last resort until the other passed its checks. The other is
    # "preferred" instead of "healthy" when a first check of it failed under load (seen in CI:
    # healthy again after a failure, as K3s's balancer says)
    k.wait_for(lambda st: sorted(states(k).values()) in (["active", "healthy"],
                                                         ["active", "preferred"]),
               what="one active server, one healthy")
    x, y = (s["a"], s["b"]) if active(k) == [s["a"].addr] else (s["b"], s["a"])
    ws = WebSocket(k.port, lab.ca, client=lab.kubelet)
    assert ws.server == x.name
    # the active server leaves the list: its connections are closed at once, traffic moves
    assert k.http("PUT", "/servers", json.dumps([y.addr]))[0] == 200
    assert ws.wait_closed(5) < 1.0
    k.wait_for(lambda st: active(k) == [y.addr], what="the other one active")
    # c is added: probed before use, and the active server stays (sticky)
    assert k.http("PUT", "/servers", json.dumps([y.addr, s["c"].addr]))[0] == 200
    assert states(k)[s["c"].addr] in ("unchecked", "healthy")
    k.wait_for(lambda st: states(k)[s["c"].addr] == "healthy", what="c checked")
    assert active(k) == [y.addr]
    # the same through k3lb ctl
    r = subprocess.run([BIN, "ctl", "--admin", "127.0.0.1:%d" % k.admin_port, "servers",
                        y.addr, s["c"].addr], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([BIN, "ctl", "--admin", "127.0.0.1:%d" % k.admin_port, "servers", "x"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and "'x' is not host:port" in r.stderr
    # bad requests
    assert k.http("PUT", "/servers", "not json")[0] == 400
    assert k.http("PUT", "/servers", json.dumps(["nohostport"]))[0] == 400
    assert k.http("PUT", "/servers", json.dumps([1, 2]))[0] == 400
    assert k.http("GET", "/servers")[0] == 405
    with open(k.state) as f:
        saved = json.load(f)
    assert saved == {"ServerURL": "https://%s" % s["a"].addr,
                     "ServerAddresses": [y.addr, s["c"].addr]}


def test_k3s_source_state_file_and_restart_with_fixed_address_down(k3lb, lab, tmp_path, pki):
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    token = "K10%s::server:s3cret" % ca_hash
    listing = tmp_path / "apiservers"
    # every server answers /v1-k3s/apiservers with the same list, as K3s servers do
    learned = [lab.server("l%d" % i, password="s3cret", apiservers_file=str(listing))
               for i in range(2)]
    listing.write_text(",".join(x.addr for x in learned))
    fixed = lab.server("fixed", password="s3cret", apiservers_file=str(listing))
    env = {"K3S_TOKEN": token}
    k = agent(k3lb, tmp_path, fixed.addr, env=env)
    k.wait_for(lambda st: set(states(k)) == {fixed.addr} | {x.addr for x in learned},
               what="learned list")
    k.wait_for(lambda st: active(k) and active(k)[0] in {x.addr for x in learned},
               what="fail-back to a learned server")
    keep = [x for x in learned if x.addr == active(k)[0]][0]
    drop = [x for x in learned if x is not keep][0]
    assert token not in k.log() and "s3cret" not in k.log()
    with open(k.state) as f:
        assert json.load(f)["ServerAddresses"] == sorted(x.addr for x in learned)
    # the supervisor drops the other server from its list; the active one stays
    listing.write_text(keep.addr)
    k.wait_for(lambda st: drop.addr not in states(k), what="removed from the list")
    assert active(k) == [keep.addr]
    k.close()

    # restart with the fixed address down: the state file gets the agent going at once
    fixed.kill()
    listing.write_text(",".join(x.addr for x in learned))
    k2 = agent(k3lb, tmp_path, fixed.addr, env=env, state=k.state)
    assert "learned servers (from state file): %s" % keep.addr in k2.log()
    assert name_via(k2.port, lab.ca) == keep.name


def test_a_changed_list_settles_before_it_applies(k3lb, lab, tmp_path, pki):
    """As K3s's agent lets a changed EndpointSlice settle 3 s (tunnel.go, endpointDebounceDelay),
    a changed /v1-k3s/apiservers list is applied only once it stood: a list that changes and
    changes back within that time (a rolling restart) moves nothing."""
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    listing = tmp_path / "apiservers"
    a, b = [lab.server(n, password="pw", apiservers_file=str(listing)) for n in ("a", "b")]
    listing.write_text(a.addr)
    k = agent(k3lb, tmp_path, a.addr, env={"K3S_TOKEN": "K10%s::node:pw" % ca_hash},
              extra=["--refresh", "200ms"])  # backs off to 2.4 s at most: within the settle
    k.wait_for(lambda st: "learned servers (from k3s): %s" % a.addr in k.log(), what="the list")

    def asked():
        return json.loads(supervisor_get(a, "/stats", lab.ca)[1]).get("/v1-k3s/apiservers", 0)
    mark, n = len(k.log()), asked()
    listing.write_text("%s,%s" % (a.addr, b.addr))
    k.wait_for(lambda st: asked() > n, what="the changed list answered")
    listing.write_text(a.addr)  # back, well within 3 s
    n = asked()
    k.wait_for(lambda st: asked() >= n + 2, what="the list asked twice more")
    assert "learned servers" not in k.log()[mark:]
    listing.write_text("%s,%s" % (a.addr, b.addr))  # this time it stays
    k.wait_for(lambda st: "learned servers (from k3s): %s, %s" % tuple(sorted((a.addr, b.addr)))
               in k.log()[mark:], what="the settled list")
    k.close()


def test_state_file_url_as_k3s_writes_it(k3lb, lab, tmp_path):
    """The state file's ServerURL is the fixed address as K3s's balancer normalises it
    (scheme://host:port, an https URL without a port on 443), so the file is K3s's own."""
    s = lab.server("a")
    k = agent(k3lb, tmp_path, "127.0.0.1", extra=["--servers-from", "static:" + s.addr])
    k.wait_for(lambda st: os.path.exists(k.state), what="the state file")
    with open(k.state) as f:
        assert json.load(f) == {"ServerURL": "https://127.0.0.1:443", "ServerAddresses": [s.addr]}
    k.close()


def test_corrupt_state_file_is_ignored(k3lb, lab, tmp_path):
    s = lab.server("a")
    state = tmp_path / "bad.json"
    for garbage in ("{not json", '{"ServerURL": 5}', "\x00\x01\x02", '["a"]'):
        state.write_text(garbage)
        k = agent(k3lb, tmp_path, s.addr, state=str(state))
        assert "is not a server list" in k.log()
        assert name_via(k.port, lab.ca) == "a"
        k.close()


def test_dns_source(k3lb, lab, tmp_path):
    port = free_port()
    a = lab.server("a", host="127.0.0.2", port=port)
    b = lab.server("b", host="127.0.0.3", port=port)
    names = {"fixed.k3lb.test": ["127.0.0.2", "127.0.0.3"]}
    dns = dns_responder(names)
    try:
        k = agent(k3lb, tmp_path, "fixed.k3lb.test:%d" % port,
                  ["--servers-from", "dns", "--resolver", "127.0.0.1:%d" % dns.getsockname()[1]])
        k.wait_for(lambda st: {a.addr, b.addr} <= set(states(k)), what="resolved list")
        k.wait_for(lambda st: active(k), what="an active server")
        first, other = (a, b) if active(k) == [a.addr] else (b, a)
        names["fixed.k3lb.test"] = [other.host]  # the active one leaves the DNS answer
        k.wait_for(lambda st: first.addr not in states(k), what="gone from DNS")
        k.wait_for(lambda st: active(k) == [other.addr], what="the other active")
    finally:
        dns.close()


def test_ipv6_loopback_listener(k3lb, lab, tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    s = lab.server("v6", host="::1")
    k = agent(k3lb, tmp_path, s.addr, listen="::1")
    k.wait_for(lambda st: active(k), what="active")
    assert name_via(k.port, lab.ca, host="::1") == "v6"


def test_etcd_listener_follows_learned_servers(k3lb, lab, tmp_path, backends):
    """--etcd-listen balances the learned servers' hosts on port 2379, sticky like the rest."""
    port = free_port()
    hosts = ["127.0.0.2", "127.0.0.3"]
    members = []
    for i, h in enumerate(hosts):
        try:
            members.append(backends("name", name="etcd%d" % i, host=h, port=2379))
        except OSError:
            pytest.skip("port 2379 is taken on %s" % h)
    servers = [lab.server("s%d" % i, host=h, port=port) for i, h in enumerate(hosts)]
    etcd_port = free_port()
    k = agent(k3lb, tmp_path, servers[0].addr,
              ["--servers-from", "static:%s,%s" % (servers[0].addr, servers[1].addr),
               "--etcd-listen", "127.0.0.1:%d" % etcd_port])
    etcd = [b for b in k.status()["backends"] if b["name"] == "etcd"][0]
    assert sorted(s["address"] for s in etcd["servers"]) == ["%s:2379" % h for h in hosts]
    # once an ACTIVE member is chosen; choosing it closes what went elsewhere (consolidation)
    k.wait_for(lambda st: any(s["state"] == "active" for b in st["backends"]
                              if b["name"] == "etcd" for s in b["servers"]),
               what="an active etcd member")
    names = {ask_name(etcd_port) for _ in range(20)}
    assert len(names) == 1 and names <= {"etcd0", "etcd1"}, names


def test_etcd_members_from_db_info(k3lb, lab, tmp_path, pki, backends):
    """With the server token the etcd balancer follows /db/info's voting members (client URLs,
    learners left out) as K3s's etcd proxy does, and follows changes; an agent token cannot ask
    (/db/info is a k3s:server route) and gets the servers' hosts on 2379, said in the log."""
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    members = [backends("name", name="etcd%d" % i, host="127.0.0.%d" % (i + 2)) for i in range(3)]
    urls = ["https://%s:%d" % (m.host, m.port) for m in members]
    listing, member_file = tmp_path / "apiservers", tmp_path / "members"
    member_file.write_text("%s,%s,~%s" % tuple(urls))  # the third one is a learner
    s = lab.server("s", password="pw", apiservers_file=str(listing),
                   etcd_members_file=str(member_file), as_remote=True)  # an agent is elsewhere
    listing.write_text(s.addr)
    etcd_port = free_port()

    def etcd_servers(k):
        """The members; the fixed address's host on 2379 stays as the last resort, as K3s's
        balancers keep their default server."""
        return sorted(x["address"] for b in k.status()["backends"] if b["name"] == "etcd"
                      for x in b["servers"] if x["address"] != "%s:2379" % s.host)
    k = agent(k3lb, tmp_path, s.addr, ["--etcd-listen", "127.0.0.1:%d" % etcd_port,
                                       "--etcd-refresh", "300ms"],
              env={"K3S_TOKEN": "K10%s::server:pw" % ca_hash})
    k.wait_for(lambda st: etcd_servers(k) == sorted(m.addr for m in members[:2]),
               what="the voting members")
    k.wait_for(lambda st: any(x["state"] == "active" for b in st["backends"]
                              if b["name"] == "etcd" for x in b["servers"]),
               what="an active etcd member")
    assert ask_name(etcd_port) in {"etcd0", "etcd1"}
    member_file.write_text(urls[2])  # the learner was promoted, the others removed
    k.wait_for(lambda st: etcd_servers(k) == [members[2].addr], what="the new member list")
    k.wait_for(lambda st: ask_name(etcd_port) == "etcd2", what="etcd through the new member")
    assert "pw" not in k.log().replace("password", "")
    k.close()

    k = agent(k3lb, tmp_path, s.addr, ["--etcd-listen", "127.0.0.1:%d" % etcd_port],
              env={"K3S_TOKEN": "K10%s::node:pw" % ca_hash})
    assert etcd_servers(k) == []  # only the servers' hosts on 2379: here the fixed one
    assert "/db/info needs the server token" in k.log()
    before = json.loads(supervisor_get(s, "/stats", lab.ca)[1])
    k.wait_for(lambda st: json.loads(supervisor_get(s, "/stats", lab.ca)[1])[
        "/v1-k3s/apiservers"] >= before["/v1-k3s/apiservers"] + 2, what="two list requests")
    assert json.loads(supervisor_get(s, "/stats", lab.ca)[1]).get("/db/info") == \
        before.get("/db/info")  # never asked with a token that cannot


def test_http_proxy_as_k3s_agent(k3lb, tmp_path, pki):
    """K3S_AGENT_HTTP_PROXY_ALLOWED=true with HTTPS_PROXY: every server (the fixed address by
    name, which only the proxy can resolve, and the learned ones) is reached through the
    proxy's CONNECT with its credentials: traffic, health checks and the agent's own requests
    (through its listener). Wrong credentials show as the proxy's refusal in the checks."""
    import base64
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    cert, key = pki.issue("k3s-proxied", ["IP:127.0.0.1", "DNS:k3s.proxy.test"])
    listing = tmp_path / "apiservers"
    made = [ApiServer(str(tmp_path), cert, key, ca=pki.ca_crt, name="p%d" % i, password="pw",
                      apiservers_file=str(listing)) for i in range(2)]
    listing.write_text(",".join(x.addr for x in made))
    proxy = ConnectProxy({"k3s.proxy.test": "127.0.0.1"},
                         auth="Basic " + base64.b64encode(b"proxy-user:s3cret/p").decode())
    fixed = "k3s.proxy.test:%d" % made[0].port
    env = {"K3S_TOKEN": "K10%s::server:pw" % ca_hash, "K3S_AGENT_HTTP_PROXY_ALLOWED": "true",
           "HTTPS_PROXY": "http://proxy-user:s3cret%%2Fp@127.0.0.1:%d" % proxy.port,
           "NO_PROXY": "10.0.0.0/8,.cluster.local"}
    try:
        k = agent(k3lb, tmp_path, fixed, env=env)
        k.wait_for(lambda st: {x.addr for x in made} <= set(states(k)), what="learned list")
        k.wait_for(lambda st: active(k) and active(k)[0] in {x.addr for x in made},
                   what="an active learned server")
        assert name_via(k.port, pki.ca_crt) in {"p0", "p1"}
        k.wait_for(lambda st: set(proxy.targets) >= {fixed} | {x.addr for x in made},
                   what="every server reached through the proxy")
        assert set(proxy.auths) == {proxy.auth}, proxy.auths
        assert "through the HTTP proxy 127.0.0.1:%d (with credentials)" % proxy.port in k.log()
        assert "s3cret" not in k.log()
        k.close()

        env["HTTPS_PROXY"] = "http://proxy-user:wrong@127.0.0.1:%d" % proxy.port
        k = agent(k3lb, tmp_path, fixed, env=env)
        k.wait_for(lambda st: any(s["check"]["result"] == "proxy_error" and
                                  "407" in s["check"]["detail"]
                                  for s in st["backends"][0]["servers"]),
                   what="the proxy's 407 in the check")
        k.close()

        # a loopback fixed address is never proxied (Go's rule; NO_PROXY: the unit tests)
        k = agent(k3lb, tmp_path, made[0].addr, env=env)
        assert "through the HTTP proxy" not in k.log()
        k.wait_for(lambda st: active(k), what="an active server, directly")
    finally:
        proxy.close()
        for x in made:
            x.close()


def supervisor_get(server, path, ca, auth=None):
    """One HTTPS GET to a stand-in server: (status, body)."""
    return https_get(server.port, path, ca, auth)


def basic(user, password):
    import base64
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_stand_in_enforces_k3s_rules(lab, tmp_path):
    """The stand-in is only as good as its fidelity (each rule cites its K3s source in
    contrib/lab/apiserver.py): no credentials are forbidden (403) and a wrong password is
    unauthorized (401) on agent routes; user "server" is forbidden there; a bootstrap token is a
    Bearer, known only once the API server is up; the tunnel admits kubelet certificates only;
    the API server behind the supervisor knows no K3s user and admits anonymous requests to no
    path; lists come in random order; more than 20 requests in flight are answered 429."""
    listing = tmp_path / "apiservers"
    listing.write_text(",".join("127.0.0.1:%d" % (1000 + i) for i in range(8)))
    s = lab.server("s", password="pw", agent_token="agentpw", sa_tokens=["sa-token"],
                   bootstrap_tokens=["abcdef.0123456789abcdef"], apiservers_file=str(listing),
                   as_remote=True)
    ca = lab.ca
    assert supervisor_get(s, "/v1-k3s/readyz", ca) == (403, json.dumps(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": "forbidden", "reason": "Forbidden", "code": 403}))
    assert supervisor_get(s, "/v1-k3s/readyz", ca, basic("server", "pw"))[0] == 403
    assert supervisor_get(s, "/v1-k3s/readyz", ca, basic("node", "pw"))[0] == 401
    assert supervisor_get(s, "/v1-k3s/readyz", ca, basic("nobody", "agentpw"))[0] == 401
    assert supervisor_get(s, "/v1-k3s/readyz", ca, basic("node", "agentpw")) == (200, "ok")
    assert supervisor_get(s, "/v1-k3s/readyz", ca, "Bearer abcdef.0123456789abcdef")[0] == 200
    assert supervisor_get(s, "/v1-k3s/readyz", ca, "Bearer abcdef.0000000000000000")[0] == 401
    assert supervisor_get(s, "/v1-k3s/readyz", ca, "Bearer sa-token")[0] == 403
    assert supervisor_get(s, "/db/info", ca, basic("node", "agentpw"))[0] == 403
    assert supervisor_get(s, "/db/info", ca, basic("server", "pw"))[0] == 200
    local = lab.server("local", password="pw")  # a caller on the server itself needs nothing
    assert supervisor_get(local, "/db/info", ca)[0] == 200
    kine = lab.server("kine", password="pw", datastore=("tcp://127.0.0.1:1",))
    assert supervisor_get(kine, "/db/info", ca, basic("server", "pw"))[0] == 400
    assert supervisor_get(s, "/v1-k3s/connect", ca, basic("node", "agentpw"))[0] == 403
    assert WebSocket(s.port, ca, client=lab.kubelet).server == "s"
    assert supervisor_get(s, "/ping", ca) == (200, "pong")
    assert supervisor_get(s, "/readyz", ca)[0] == 401
    assert supervisor_get(s, "/readyz", ca, basic("node", "agentpw"))[0] == 401
    assert supervisor_get(s, "/readyz", ca, "Bearer sa-token") == (200, "ok")
    assert supervisor_get(s, "/api/v1/namespaces/default", ca, "Bearer sa-token")[0] == 403
    s.set_mode("503")  # the core not started, the API server not handed over
    assert supervisor_get(s, "/v1-k3s/readyz", ca, basic("node", "agentpw"))[0] == 503
    assert supervisor_get(s, "/v1-k3s/readyz", ca, "Bearer abcdef.0123456789abcdef")[0] == 403
    assert supervisor_get(s, "/readyz", ca, "Bearer sa-token")[0] == 503
    s.set_mode("200")
    orders = {supervisor_get(s, "/v1-k3s/apiservers", ca, basic("node", "agentpw"))[1]
              for _ in range(6)}
    assert len(orders) > 1  # 8! orders: six answers all alike would be a broken shuffle
    s.set_mode("slow")
    codes = []
    threads = [threading.Thread(target=lambda: codes.append(
        supervisor_get(s, "/v1-k3s/readyz", ca, basic("node", "agentpw"))[0]))
        for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(429) >= 1 and codes.count(200) <= 20, codes


@pytest.mark.parametrize("form", ["server", "agent", "bootstrap", "password", "wrong"])
def test_k3s_token_forms(k3lb, lab, tmp_path, pki, form):
    """Every token form K3s accepts learns the list, presented as K3s's agent presents it:
    user node with the password (never user server), bootstrap tokens as Bearer. A wrong
    password learns nothing and says why."""
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    token = {"server": "K10%s::server:s3cret" % ca_hash,
             "agent": "K10%s::node:agentpw" % ca_hash,
             "bootstrap": "abcdef.0123456789abcdef",
             "password": "s3cret",
             "wrong": "K10%s::server:nope" % ca_hash}[form]
    listing = tmp_path / "apiservers"
    kw = dict(password="s3cret", apiservers_file=str(listing),
              agent_token="agentpw" if form == "agent" else None,
              bootstrap_tokens=["abcdef.0123456789abcdef"])
    learned = [lab.server("l%d" % i, **kw) for i in range(2)]
    listing.write_text(",".join(x.addr for x in learned))
    fixed = lab.server("fixed", **kw)
    k = agent(k3lb, tmp_path, fixed.addr, env={"K3S_TOKEN": token})
    if form == "wrong":
        k.wait_for(lambda st: "HTTP 401" in json.dumps(st), what="the 401 explained")
        assert set(states(k)) == {fixed.addr}
    else:
        k.wait_for(lambda st: set(states(k)) == {fixed.addr} | {x.addr for x in learned},
                   what="learned list")
    assert token not in k.log() and "s3cret" not in k.log() and "agentpw" not in k.log()
    k.close()


def test_refresh_backs_off_while_unchanged(k3lb, lab, tmp_path, pki):
    """Each /v1-k3s/apiservers costs the server a live list: while the answer stays the same
    the agent asks less and less often (refresh x2 up to x12), and a change brings the base
    period back at once."""
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    listing = tmp_path / "apiservers"
    s = [lab.server("l%d" % i, password="pw", apiservers_file=str(listing)) for i in range(3)]
    listing.write_text(",".join(x.addr for x in s[:2]))

    def asked():
        return sum(json.loads(supervisor_get(x, "/stats", lab.ca)[1]).get("/v1-k3s/apiservers", 0)
                   for x in s)
    k = agent(k3lb, tmp_path, s[0].addr, env={"K3S_TOKEN": "K10%s::server:pw" % ca_hash})
    k.wait_for(lambda st: set(states(k)) == {x.addr for x in s[:2]}, what="learned")
    def connections():
        return sum(json.loads(supervisor_get(x, "/stats", lab.ca)[1]).get("agent_connections", 0)
                   for x in s)
    k.wait_for(lambda st: all(json.loads(supervisor_get(x, "/stats", lab.ca)[1]).get(
        "/v1-k3s/readyz", 0) >= 2 for x in s[:2]) and active(k), what="probes running")
    # a change applied brings the base period back: the window starts there
    listing.write_text(",".join(x.addr for x in s))
    k.wait_for(lambda st: set(states(k)) == {x.addr for x in s}, timeout=15,
               what="the change applied")
    k.wait_for(lambda st: json.loads(supervisor_get(s[2], "/stats", lab.ca)[1]).get(
        "/v1-k3s/readyz", 0) >= 2, what="the new server probed on its kept connection")
    before, conns = asked(), connections()
    time.sleep(6)  # a time window is what is measured here: 20 asks at a fixed 300 ms
    during = asked() - before
    assert 2 <= during <= 9, during  # 300 ms doubling to 3.6 s: about five
    # the asks and the probes (every 200 ms here) ride kept-alive connections: no handshakes
    assert connections() - conns <= 1, connections() - conns
    listing.write_text(",".join(x.addr for x in s[:2]))
    k.wait_for(lambda st: set(states(k)) == {x.addr for x in s[:2]}, timeout=10,
               what="the change seen within the longest period and its settle")
    k.close()


def test_listener_is_exclusive(k3lb, lab, tmp_path):
    """K3s's own agent balancer binds with SO_REUSEPORT, as root like k3lb: it must not be able
    to join k3lb's listener and take a share of its clients (nor k3lb join its), whichever
    starts first. Both ways the second one is refused, and k3lb says which port."""
    s = lab.server("s")
    k = agent(k3lb, tmp_path, s.addr)
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    with pytest.raises(OSError):
        other.bind(("127.0.0.1", k.port))
    other.close()
    assert name_via(k.port, lab.ca) == "s"
    k.close()
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    taken.bind(("127.0.0.1", 0))
    taken.listen(8)
    port = taken.getsockname()[1]
    k2 = k3lb()
    k2.start(args=["--server", "https://%s" % s.addr, "--listen", "127.0.0.1:%d" % port,
                   "--state-file", str(tmp_path / "st.json")], command="agent",
             expect_ready=False)
    assert k2.proc.wait(timeout=15) == 1
    assert "127.0.0.1:%d: Address already in use" % port in k2.log()
    taken.close()


def test_k3s_metric_names(k3lb, lab, tmp_path):
    """K3s's agent balancer metrics by K3s's names and numbers (dashboards built for K3s work):
    connections and state per server, dial durations by success and error; promtool passes."""
    s = [lab.server("s%d" % i) for i in range(2)]
    dead = "127.0.0.1:%d" % free_port()
    k = agent(k3lb, tmp_path, s[0].addr, extra=["--servers-from", "static:%s,%s,%s" % (
        s[0].addr, s[1].addr, dead)])
    k.wait_for(lambda st: active(k) and states(k).get(dead) == "failed",
               what="an active server and the dead one failed")
    ws = WebSocket(k.port, lab.ca, client=lab.kubelet)
    st, text = k.http("GET", "/metrics")
    assert st == 200
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    assert r.returncode == 0, r.stdout + r.stderr
    text = text.decode()
    act = active(k)[0]
    assert 'k3s_loadbalancer_server_health{name="k3s-agent-load-balancer",server="%s"} 7' \
        % act in text
    assert 'k3s_loadbalancer_server_health{name="k3s-agent-load-balancer",server="%s"} 1' \
        % dead in text
    assert 'k3s_loadbalancer_server_connections{name="k3s-agent-load-balancer",server="%s"} 1' \
        % act in text
    def dials(status):
        text = k.http("GET", "/metrics")[1].decode()
        line = [l for l in text.splitlines() if l.startswith(
            'k3s_loadbalancer_dial_duration_seconds_count{name="k3s-agent-load-balancer",'
            'status="%s"}' % status)]
        return int(line[0].split()[-1])
    ok, err = dials("success"), dials("error")
    assert ok >= 1 and err == 0
    # One dial per client connection, as K3s observes it: a connection whose first server
    # refuses (the ACTIVE one, just killed) and that a retry carries is one success, no error.
    victim = [x for x in s if x.addr == act][0]
    victim.kill()
    assert name_via(k.port, lab.ca) in {x.name for x in s if x is not victim}
    assert dials("success") == ok + 1 and dials("error") == 0
    ws.close()


def free_port_on(hosts):
    """A port free on every one of hosts."""
    for _ in range(50):
        p = free_port()
        try:
            socks = []
            for h in hosts:
                s = socket.socket()
                s.bind((h, p))
                socks.append(s)
            for s in socks:
                s.close()
            return p
        except OSError:
            for s in socks:
                s.close()
    raise AssertionError("no common free port")


def test_rke2_split_ports(k3lb, lab, tmp_path, pki):
    """RKE2's ports (and K3s with --supervisor-port): the supervisor on one port, the API
    servers on another. K3s lists its API servers; the supervisor balancer must use the same
    hosts on the supervisor's port, and a second balancer the API port. By default the
    listeners sit where a K3s agent pointed at them looks: loopback on the supervisor port (the
    fixed address's) and on the API port. Each reaches only its own kind of server, and the
    ports are right, so nothing is said about them."""
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    hosts = ["127.0.0.2", "127.0.0.3"]
    sup, api = free_port_on(hosts + ["127.0.0.1"]), free_port_on(hosts + ["127.0.0.1"])
    listing = tmp_path / "apiservers"
    listing.write_text(",".join("%s:%d" % (h, api) for h in hosts))
    [lab.server("sup%d" % i, host=h, port=sup, password="pw", apiservers_file=str(listing),
                supervisor_port=sup, https_port=api) for i, h in enumerate(hosts)]
    [lab.server("api%d" % i, host=h, port=api, api_only=True) for i, h in enumerate(hosts)]
    k = k3lb()
    k.admin_port = free_port()
    k.state = str(tmp_path / "state.json")
    k.start(args=["--server", "https://%s:%d" % (hosts[0], sup), "--apiserver-port", str(api),
                  "--admin", "127.0.0.1:%d" % k.admin_port, "--state-file", k.state,
                  "--check-interval", "200ms", "--check-timeout", "150ms", "--refresh", "300ms"],
            env={"K3S_TOKEN": "K10%s::server:pw" % ca_hash}, command="agent")

    def addrs(backend):
        st = k.status()
        return {s["address"] for b in st["backends"] if b["name"] == backend
                for s in b["servers"]}
    k.wait_for(lambda st: addrs("servers") == {"%s:%d" % (h, sup) for h in hosts},
               what="supervisors on the supervisor port")
    k.wait_for(lambda st: addrs("apiservers") == {"%s:%d" % (h, api) for h in hosts},
               what="API servers on the API port")
    k.wait_for(lambda st: any(s["state"] == "active" for b in st["backends"]
                              if b["name"] == "apiservers" for s in b["servers"]),
               what="an active API server")
    assert name_via(sup, lab.ca).startswith("sup")
    assert name_via(api, lab.ca).startswith("api")
    assert "supervisor port %d, API server port %d: a balancer for each" % (sup, api) in k.log()
    assert "warn split_ports" not in k.log()
    metrics = k.http("GET", "/metrics")[1].decode()
    assert 'k3s_loadbalancer_server_health{name="k3s-api-server-agent-load-balancer",' \
           'server="%s:%d"}' % (hosts[0], api) in metrics
    k.close()


def test_split_ports_unset_is_explained(k3lb, lab, tmp_path, pki):
    """A server whose supervisor and API ports differ, and an agent whose listener is on
    another port and has no API balancer: the log says which ports a K3s agent pointed at it
    would dial, and the flags that put k3lb there."""
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    s = lab.server("s", password="pw", supervisor_port=9345, https_port=6443)
    k = agent(k3lb, tmp_path, s.addr, env={"K3S_TOKEN": "K10%s::node:pw" % ca_hash})
    k.wait_for(lambda st: "asks its API servers" in k.log(), what="the ports read")
    assert ("a K3s agent pointed at this listener (port %d) gives every server it learns port %d "
            "for its tunnels, where the servers do not listen: listen on their supervisor port "
            "(--listen 127.0.0.1:9345)" % (k.port, k.port)) in k.log()
    assert ("a K3s agent with --disable-apiserver-lb asks its API servers at 127.0.0.1:6443: set "
            "--apiserver-port 6443") in k.log()
    k.close()


def test_probes_keep_one_connection(k3lb, lab, tmp_path, pki):
    """Probes reuse one kept-alive TLS connection per server: many /v1-k3s/readyz, almost no
    new handshakes. A server that drops kept connections (an idle timeout) is asked again on a
    fresh one, and stays up."""
    with open(pki.ca_crt, "rb") as f:
        ca_hash = hashlib.sha256(f.read()).hexdigest()
    s = lab.server("s", password="pw")
    k = agent(k3lb, tmp_path, s.addr, extra=["--servers-from", "static:%s" % s.addr],
              env={"K3S_TOKEN": "K10%s::node:pw" % ca_hash})
    k.wait_for(lambda st: active(k) == [s.addr], what="active")

    def count():
        d = json.loads(supervisor_get(s, "/stats", lab.ca)[1])
        return d.get("/v1-k3s/readyz", 0), d.get("agent_connections", 0)
    r0, c0 = count()
    k.wait_for(lambda st: count()[0] >= r0 + 10, what="ten more probes")
    r1, c1 = count()
    assert c1 - c0 <= 1, (r1 - r0, c1 - c0)
    s.set_mode("drop")
    r2, c2 = count()
    k.wait_for(lambda st: count()[0] >= r2 + 5, what="five probes on dropped connections")
    assert count()[1] - c2 >= 4  # each after the first on a fresh connection
    assert states(k)[s.addr] == "active"
    k.close()
