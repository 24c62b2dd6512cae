"""The command line: exit codes, messages, env twins of flags, start-up failures."""
import os
import socket
import subprocess

import pytest

from k3lbtest import BIN, ask_name, free_port, simple_config


def run(*args, env=None, timeout=20):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def test_version_and_help():
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("k3lb ")
    r = run("--help")
    assert r.returncode == 0 and "k3lb serve -c FILE" in r.stdout
    r = run("serve", "--help")
    assert r.returncode == 0 and "--server ADDR" in r.stdout and "K3LB_SERVER" in r.stdout


def test_usage_errors_exit_2_with_hint():
    for args, msg in [((), "usage"), (("frobnicate",), "unknown command 'frobnicate'"),
                      (("serve",), "needs -c FILE, or --listen and --server"),
                      (("serve", "--bogus"), "unknown flag '--bogus'"),
                      (("serve", "--listen"), "needs a value"),
                      (("check",), "needs -c FILE")]:
        r = run(*args)
        assert r.returncode == 2, (args, r)
        assert msg in r.stderr, (args, r.stderr)
        if args and args[0] in ("serve", "check"):
            assert "try 'k3lb %s --help'" % args[0] in r.stderr
            assert len(r.stderr.strip().split("\n")) == 1


def test_check_valid_and_invalid(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(simple_config([":6443"], ["10.0.0.11:6443"], 8404))
    r = run("check", "-c", str(good))
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(simple_config([":6443"], ["10.0.0.11"], 8404,
                                 backend_extra="balanse: first"))
    r = run("check", "-c", str(bad))
    assert r.returncode == 1
    lines = r.stderr.strip().split("\n")
    assert "%s:7:15: address: address '10.0.0.11' has no port" % bad in lines[0] or \
        any("%s:7:15:" % bad in l for l in lines), r.stderr
    assert any("%s:8:5: unknown key 'balanse' in backend (did you mean 'balance'?)" % bad in l
               for l in lines), r.stderr


def test_check_reports_everything_in_one_pass(tmp_path):
    """One run of `check` shows every error (an unknown key does not hide an undefined backend
    or a duplicate server), and warns where a config loads but is likely wrong. A secret that
    cannot be read where check runs is a warning there and an error for serve."""
    f = tmp_path / "k3lb.yaml"
    f.write_text("""frontends:
  - name: api
    listen: "127.0.0.1:%d"
    backend: nosuch
    bogus: 1
backends:
  - name: k3s
    servers: ["127.0.0.1:1", "127.0.0.1:1", "not an address"]
    health: {kind: k3s, token_env: K3LB_TEST_UNSET_TOKEN}
  - name: etcd
    role: etcd
    servers: ["127.0.0.1:2379", "127.0.0.2:2379"]
admin: {listen: "127.0.0.1:%d", token_file: /nonexistent/token}
""" % (free_port(), free_port()))
    r = run("check", "-c", str(f))
    assert r.returncode == 1
    errors = [l for l in r.stderr.splitlines() if "warning:" not in l]
    warnings = [l for l in r.stderr.splitlines() if "warning:" in l]
    assert any(":5:5: unknown key 'bogus'" in l for l in errors), r.stderr
    assert any("listed twice in backend 'k3s'" in l for l in errors), r.stderr
    assert any("'not an address'" in l or "not an address" in l for l in errors), r.stderr
    assert any(":4:14: frontend 'api' names backend 'nosuch'" in l for l in errors), r.stderr
    assert any("environment variable K3LB_TEST_UNSET_TOKEN is not set" in l for l in warnings)
    assert any("cannot read '/nonexistent/token'" in l for l in warnings), r.stderr
    assert any("backend 'etcd' is not used by any frontend or requires" in l for l in warnings)
    assert any("backend 'etcd' has 2 etcd members" in l for l in warnings), r.stderr
    assert not any("has no servers" in l or "no frontends" in l for l in errors), r.stderr

    # the same file without its errors: check passes with its warnings; serve refuses the secret
    text = f.read_text().replace("    bogus: 1\n", "").replace("nosuch", "k3s")
    f.write_text(text.replace(', "127.0.0.1:1", "not an address"', ""))
    r = run("check", "-c", str(f))
    assert r.returncode == 0 and "ok (1 frontend, 2 backends, 4 warnings)" in r.stdout, r
    r = run("serve", "-c", str(f))
    assert r.returncode == 1
    assert "environment variable K3LB_TEST_UNSET_TOKEN is not set" in r.stderr
    assert "warning: environment variable" not in r.stderr, r.stderr
    # check --strict (systemd's start check) refuses what serve refuses, in the same words
    strict = run("check", "--strict", "-c", str(f))
    assert strict.returncode == 1 and not strict.stdout, strict
    refused = [l for l in r.stderr.splitlines() if str(f) in l]
    assert refused and strict.stderr.splitlines() == refused, (strict.stderr, r.stderr)


def test_config_from_env(tmp_path):
    good = tmp_path / "k.yaml"
    good.write_text(simple_config([":6443"], ["10.0.0.11:6443"], 8404))
    r = run("check", env={"K3LB_CONFIG": str(good)})
    assert r.returncode == 0, r.stderr


def test_bad_flag_value_names_the_flag():
    """Without a file every value came from a flag: a bad one is a usage error (exit 2) that
    names the flag once, and a one-liner or agent lacking its server says which flag."""
    r = run("serve", "--listen", "127.0.0.1:1", "--server", "nowhere", "--admin", "off")
    assert r.returncode == 2
    assert r.stderr.startswith("--server: address 'nowhere' has no port"), r.stderr
    r = run("serve", "--listen", "127.0.0.1:1", "--server", "a:1", "--balance", "rr",
            env={"K3LB_ADMIN": "off"})
    assert r.returncode == 2 and "--balance: unknown value 'rr'" in r.stderr
    r = run("serve", "--listen", "127.0.0.1:1", "--server", "10.0.0.300:6443", "--admin", "off")
    assert r.returncode == 2 and "not a valid IPv4 address" in r.stderr
    r = run("serve", "--listen", ":16447")
    assert r.returncode == 2 and "needs --server ADDR" in r.stderr
    assert "(built-in)" not in r.stderr
    r = run("agent", "--state-file", "/nonexistent/s.json")
    assert r.returncode == 2 and "needs --server URL" in r.stderr


def test_tab_indentation_is_named(tmp_path):
    f = tmp_path / "k.yaml"
    f.write_text("frontends:\n\t- name: a\n")
    r = run("check", "-c", str(f))
    assert r.returncode == 1 and "k.yaml:2:1: a tab: YAML indents with spaces only" in r.stderr


def test_one_liner_with_env_servers(k3lb, backends):
    b = [backends("name", name="a"), backends("name", name="b")]
    k = k3lb()
    port, admin = free_port(), free_port()
    k.admin_port = admin
    k.start(args=["--listen", "127.0.0.1:%d" % port, "--admin", "127.0.0.1:%d" % admin],
            env={"K3LB_SERVER": "%s,%s" % (b[0].addr, b[1].addr), "K3LB_BALANCE": "first"})
    assert {ask_name(port) for _ in range(5)} == {"a"}
    st = k.status()
    assert st["backends"][0]["balance"] == "first"
    assert st["config"] == "command line"


def test_port_in_use_fails_cleanly(tmp_path):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    other = free_port()
    r = run("serve", "--listen", "127.0.0.1:%d" % other, "--listen", "127.0.0.1:%d" % port,
            "--server", "127.0.0.1:1", "--admin", "off")
    blocker.close()
    assert r.returncode == 1
    assert "127.0.0.1:%d: Address already in use" % port in r.stderr
    # nothing half-started: the first address was released again
    s = socket.socket()
    s.bind(("127.0.0.1", other))
    s.close()


def test_invalid_config_binds_nothing(tmp_path):
    port = free_port()
    bad = tmp_path / "bad.yaml"
    bad.write_text(simple_config(["127.0.0.1:%d" % port], ["a:1"], free_port(),
                                 backend_extra="connect_timeout: soon"))
    r = run("serve", "-c", str(bad))
    assert r.returncode == 1 and "bad duration 'soon'" in r.stderr


def test_json_log_lines(k3lb, backends):
    import json
    b = backends("name")
    k = k3lb()
    port, admin = free_port(), free_port()
    k.admin_port = admin
    k.start(args=["--listen", "127.0.0.1:%d" % port, "--server", b.addr, "--admin",
                  "127.0.0.1:%d" % admin, "--log-format", "json", "--log-level", "debug"])
    assert ask_name(port) == "backend"
    k.wait_for(lambda st: st["frontends"][0]["connections_active"] == 0, what="conn end")
    k.close()
    records = [json.loads(l) for l in k.log().strip().split("\n")]
    events = [r["event"] for r in records]
    assert "ready" in events and "access" in events and "stopped" in events
    assert all({"ts", "level", "event", "msg"} <= set(r) for r in records)


def test_agent_config_errors(tmp_path):
    r = run("agent", "--listen", "127.0.0.1:1")
    assert r.returncode == 2
    assert "needs --server URL (or K3S_URL): the fixed registration address" in r.stderr
    r = run("agent", "--server", "http://10.0.0.1:6443")
    assert r.returncode == 2 and "--server: server URL 'http://10.0.0.1:6443' must use " \
        "https://" in r.stderr
    bad = tmp_path / "agent.yaml"
    bad.write_text("agent:\n  server: https://10.0.0.1\n  servers_from: [k3s, carrier-pigeon]\n"
                   "backends: []\n")
    r = run("agent", "-c", str(bad))
    assert r.returncode == 1
    assert "%s:4:1: 'backends' is not used by k3lb agent" % bad in r.stderr, r.stderr


def test_agent_from_config_file(k3lb, backends, tmp_path):
    b = backends("name", name="learned")
    port = free_port()
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("agent:\n  server: https://127.0.0.1:%d\n  listen: [\"127.0.0.1:%d\"]\n"
                   "  servers_from: [\"static:%s\"]\n  state_file: %s\n"
                   "  health: {kind: tcp, interval: 200ms, timeout: 150ms}\n"
                   % (free_port(), port, b.addr, tmp_path / "state.json"))
    k = k3lb()
    k.start(args=["-c", str(cfg)], command="agent")
    # the fixed address refuses; the learned server takes the connection at once
    assert ask_name(port) == "learned"


def test_admin_listener_in_use_fails_cleanly():
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    admin = blocker.getsockname()[1]
    port = free_port()
    r = run("serve", "--listen", "127.0.0.1:%d" % port, "--server", "127.0.0.1:1", "--admin",
            "127.0.0.1:%d" % admin)
    blocker.close()
    assert r.returncode == 1
    assert "admin listener 127.0.0.1:%d: Address already in use" % admin in r.stderr
    s = socket.socket()  # the frontend's socket was released again
    s.bind(("127.0.0.1", port))
    s.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="privileges are dropped only by root")
def test_unknown_user_fails(tmp_path):
    cfg = tmp_path / "k.yaml"
    cfg.write_text(simple_config(["127.0.0.1:%d" % free_port()], ["127.0.0.1:1"], free_port(),
                                 top_extra="user: no-such-user-k3lb"))
    r = run("serve", "-c", str(cfg))
    assert r.returncode == 1 and "user 'no-such-user-k3lb' does not exist" in r.stderr


def test_one_variable_one_meaning(tmp_path):
    """K3LB_AGENT_TOKEN is the agent's K3s token and K3LB_ADMIN_TOKEN ctl's API token: a K3s
    token exported for the agent never reaches an admin endpoint, and serve's K3LB_SERVER
    (host:port) is not taken as the agent's URL."""
    import socket
    import threading
    seen = []
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)

    def serve():
        c, _ = lsock.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            d = c.recv(4096)
            if not d:
                break
            data += d
        seen.append(data.decode(errors="replace"))
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"backends\":[]}")
        c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    env = dict(os.environ, K3LB_TOKEN="K10abc::server:secret", K3LB_AGENT_TOKEN="K10abc::x:y",
               K3S_TOKEN="K10abc::server:secret")
    subprocess.run([BIN, "ctl", "--admin", "127.0.0.1:%d" % lsock.getsockname()[1], "status"],
                   env=env, capture_output=True, text=True, timeout=20)
    t.join(10)
    lsock.close()
    assert seen and "Authorization" not in seen[0], seen
    r = subprocess.run([BIN, "agent", "--state-file", str(tmp_path / "s.json")],
                       env=dict(os.environ, K3LB_SERVER="127.0.0.1:6443"), capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2 and "needs --server URL (or K3S_URL)" in r.stderr


def test_switches_are_not_read_from_the_environment(k3lb, backends):
    """The environment sets up a host (addresses, files, secrets), not one command: K3LB_HELP,
    K3LB_FORCE or K3LB_JSON exported once must not turn every later command into --help,
    --force or --json. Help lists a variable only where one is read."""
    r = run("check", "-c", "/nonexistent.yaml", env={"K3LB_HELP": "1", "K3LB_STRICT": "1"})
    assert r.returncode == 1 and "usage:" not in r.stdout, r
    b = backends("name")
    k = k3lb()
    k.port, k.admin_port = free_port(), free_port()
    k.start(simple_config(["127.0.0.1:%d" % k.port], [b.addr], k.admin_port))
    env = dict(os.environ, K3LB_FORCE="1", K3LB_JSON="1", K3LB_TIMEOUT="junk")
    ask = [BIN, "ctl", "--admin", "127.0.0.1:%d" % k.admin_port]
    r = subprocess.run(ask + ["drain", "pool", b.addr], env=env, capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 1 and "last usable server" in r.stderr, r
    r = subprocess.run(ask + ["status"], env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and not r.stdout.startswith("{"), r
    for cmd in ("serve", "agent", "check", "ctl"):
        out = run(cmd, "--help").stdout
        for line in out.splitlines():
            if line.strip().startswith(("-h,", "--json", "--force", "--strict", "--timeout",
                                        "--weight")):
                assert "[K3LB_" not in line, line
    assert "[K3LB_ADMIN_TOKEN_FILE]" in run("ctl", "--help").stdout


def test_install_puts_what_the_units_need(tmp_path):
    """`cmake --install` lays out the binary where the units' ExecStart finds it (under the
    prefix), the units, the example config and the README."""
    build = os.path.dirname(os.path.abspath(BIN))
    if not os.path.exists(os.path.join(build, "cmake_install.cmake")):
        pytest.skip("not a CMake build directory")
    r = subprocess.run(["cmake", "--install", build, "--prefix", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for f in ("bin/k3lb", "lib/systemd/system/k3lb.service",
              "lib/systemd/system/k3lb-agent.service", "share/doc/k3lb/examples/k3lb.yaml",
              "share/doc/k3lb/README.md"):
        assert (tmp_path / f).exists(), f
    unit = (tmp_path / "lib/systemd/system/k3lb.service").read_text()
    assert "ExecStart=/usr/local/bin/k3lb serve" in unit
    assert subprocess.run([str(tmp_path / "bin/k3lb"), "version"], capture_output=True,
                          timeout=10).returncode == 0
