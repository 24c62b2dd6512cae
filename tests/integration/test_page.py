"""The stats page (GET / on the admin listener): served without a token and holding no data;
drawn by real headless Chromium (Debian `chromium`) from /status, with every frontend,
backend and server, states and check details; names from the config and details from
servers shown as text, never as markup; a screenshot is kept beside the test's files."""
import os
import shutil
import struct
import subprocess
import urllib.request
import urllib.error

import pytest

from k3lbtest import LineServer, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def start(k3lb, backends, tmp_path, token=False):
    up = backends("name", name="s-up")
    dead = free_port()  # nothing listens: refused
    k = k3lb()
    k.admin_port, port = free_port(), free_port()
    admin = "admin: {listen: \"127.0.0.1:%d\"" % k.admin_port
    if token:
        (tmp_path / "token").write_text("s3cret-token\n")
        admin += ", token_file: %s" % (tmp_path / "token")
        k.admin_headers = {"Authorization": "Bearer s3cret-token"}
    k.start(admin + "}\nfrontends:\n"
            "  - {name: \"<i>edge</i>\", listen: [\"127.0.0.1:%d\"], backend: api}\n"
            "backends:\n  - name: api\n    servers: [\"%s\", \"127.0.0.1:%d\"]\n"
            "    health: {interval: 200ms, timeout: 150ms, rise: 1, fall: 1, "
            "down_interval: 200ms}\n" % (port, up.addr, dead))
    k.wait_for(lambda st: [s["state"] for s in st["backends"][0]["servers"]] == ["up", "down"],
               what="one server up, one down")
    return k, up, dead


def get(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def test_page_is_open_and_self_contained(k3lb, backends, tmp_path):
    """The page needs no token (it holds nothing), /status still does; it loads nothing from
    elsewhere and says so to the browser."""
    k, _, _ = start(k3lb, backends, tmp_path, token=True)
    base = "http://127.0.0.1:%d" % k.admin_port
    code, headers, body = get(base + "/")
    assert code == 200 and headers["Content-Type"].startswith("text/html"), (code, headers)
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp, csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "fetch('status'" in body and "sessionStorage" in body
    assert "http://" not in body and "https://" not in body  # no asset from anywhere
    assert "s3cret" not in body and "127.0.0.1" not in body  # no data in the page itself
    assert get(base + "/status")[0] == 401


def chromium(url, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-dev-shm-usage", "--virtual-time-budget=5000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not CHROMIUM, reason="needs chromium")
def test_page_in_chromium(k3lb, backends, tmp_path):
    k, up, dead = start(k3lb, backends, tmp_path)
    url = "http://127.0.0.1:%d/" % k.admin_port
    r = chromium(url, "--dump-dom")
    dom = r.stdout
    assert "Frontends" in dom and "version " in dom, (r.stdout[-2000:], r.stderr[-2000:])
    # the frontend's name is text: escaped in the DOM, no <i> element made from it
    assert "&lt;i&gt;edge&lt;/i&gt;" in dom and "<i>edge</i>" not in dom
    assert '<td class="up">up</td>' in dom
    assert '<td class="down">down</td>' in dom
    assert "<td>%s</td>" % up.addr in dom and "<td>127.0.0.1:%d</td>" % dead in dom
    assert "tcp: ok" in dom and "tcp: refused" in dom
    assert '<div id="err"></div>' in dom  # no error shown
    shot = tmp_path / "stats-page.png"
    r = chromium(url, "--screenshot=%s" % shot, "--window-size=1280,800",
                 "--hide-scrollbars")
    assert shot.exists(), r.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 800)
    assert len(png) > 20000  # a drawn page, not a blank one
    if os.environ.get("K3LB_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["K3LB_KEEP_SCREENSHOT"])


@pytest.mark.skipif(not CHROMIUM, reason="needs chromium")
def test_page_asks_for_the_token(k3lb, backends, tmp_path):
    k, _, _ = start(k3lb, backends, tmp_path, token=True)
    dom = chromium("http://127.0.0.1:%d/" % k.admin_port, "--dump-dom").stdout
    assert '<div id="err">This admin API wants a token.</div>' in dom
    assert 'id="login" style="display: block;"' in dom
    assert "127.0.0.1" not in dom.split("</form>")[1]  # nothing shown without it


@pytest.mark.skipif(not CHROMIUM, reason="needs chromium")
def test_page_shows_routes_limits_queue_and_agent(k3lb, backends, tmp_path):
    """The gateway's state on the page: a frontend's SNI routes and what no route took, its
    per-source refusals, a backend's queue, a server's maxconn, effective weight and what its
    agent said."""
    srv = backends("name", name="s")
    agent = LineServer(line="up 50%")
    agent_port = agent.port
    k = k3lb()
    k.admin_port, port = free_port(), free_port()
    k.start("admin: {listen: \"127.0.0.1:%d\"}\nfrontends:\n"
            "  - {name: edge, listen: [\"127.0.0.1:%d\"], source_max_conns: 5,\n"
            "     routes: [{sni: [api.a.example], backend: api}]}\n"
            "backends:\n  - name: api\n    maxconn: 4\n    servers: [\"%s\"]\n"
            "    health: {kind: tcp, agent: {port: %d, interval: 200ms, timeout: 150ms}}\n"
            % (k.admin_port, port, srv.addr, agent_port))
    k.wait_for(lambda st: st["backends"][0]["servers"][0]["effective_weight"] == 0.5, 10,
               "the agent's 50%")
    dom = chromium("http://127.0.0.1:%d/" % k.admin_port, "--dump-dom").stdout
    agent.close()
    for text in ("(routes only)", "api.a.example \u2192 api",
                 "0 to the default, 0 without a route", "queue 0/1024 waiting",
                 "agent: answered 'up 50%'", "1 (now 0.5)", "0/4", "1 of 1 usable"):
        assert text in dom, (text, dom[-3000:])
    assert '<div id="err"></div>' in dom
