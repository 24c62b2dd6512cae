"""Each `k3lb agent` recipe beside a model of the real K3s/RKE2 agent (contrib/lab/k3s_agent.py,
which works out from K3s's source every address that agent dials, and dials it): every dial
must reach a real server port, through k3lb or directly as the real agent would, the traffic
k3lb carries must stay on one server, and the tunnels must reach every server. Each recipe runs
with k3lb's listeners where the README put them before (a port of its own; the API balancer on
that port - 1) and where they are now (the servers' supervisor port, and the API port), and
prints every dial."""
import hashlib
import os
import socket

import pytest

from k3lbtest import ApiServer, K3lb, free_port

from contrib.lab.k3s_agent import AgentModel  # noqa: E402

HOSTS = ["127.0.0.2", "127.0.0.3"]


def free_everywhere(hosts, avoid=()):
    """A port free on every one of hosts (and on ::1, where k3lb listens by default too)."""
    for _ in range(100):
        p = free_port()
        if p in avoid:
            continue
        socks = []
        try:
            for h in hosts + ["::1"]:
                s = socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET)
                s.bind((h, p))
                socks.append(s)
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no port free everywhere")


def port_free(port, host="127.0.0.1"):
    with socket.socket() as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


class Cluster:
    """Two servers on 127.0.0.2 and 127.0.0.3: a supervisor on port sup and, when the ports
    differ, an API server on port api beside it."""

    def __init__(self, tmp_path, pki, program, same_port):
        self.pki, self.made = pki, []
        self.cert, self.key = pki.issue("server", ["IP:127.0.0.1", "IP:::1"] +
                                        ["IP:" + h for h in HOSTS])
        self.sup = free_everywhere(["127.0.0.1"] + HOSTS)
        self.api = self.sup if same_port else free_everywhere(["127.0.0.1"] + HOSTS, {self.sup})
        listing = tmp_path / "apiservers"
        listing.write_text(",".join("%s:%d" % (h, self.api) for h in HOSTS))
        for i, h in enumerate(HOSTS):
            self.made.append(ApiServer(str(tmp_path), self.cert, self.key, ca=pki.ca_crt,
                                       name="sup%d" % i, host=h, port=self.sup, password="pw",
                                       program=program, apiservers_file=str(listing),
                                       supervisor_port=self.sup, https_port=self.api))
            if not same_port:
                self.made.append(ApiServer(str(tmp_path), self.cert, self.key, ca=pki.ca_crt,
                                           name="api%d" % i, host=h, port=self.api,
                                           api_only=True, apiservers_file=str(listing)))
        self.token = "K10%s::node:pw" % hashlib.sha256(open(pki.ca_crt, "rb").read()).hexdigest()

    def close(self):
        for s in self.made:
            s.close()


RECIPES = {
    # name: (program, same ports, --disable-apiserver-lb, k3lb given --apiserver-port)
    "k3s": ("k3s", True, True, False),
    "k3s-supervisor-port": ("k3s", False, True, True),
    "rke2": ("rke2", False, False, False),
}


@pytest.mark.parametrize("layout", ["before", "now"])
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_dial_of_the_real_agent_lands(tmp_path, pki, recipe, layout):
    program, same_port, disable_lb, api_balancer = RECIPES[recipe]
    c = Cluster(tmp_path, pki, program, same_port)
    k = K3lb(str(tmp_path))
    k.admin_port = free_port()
    args = ["--server", "https://%s:%d" % (HOSTS[0], c.sup), "--program", program, "--admin",
            "127.0.0.1:%d" % k.admin_port, "--state-file", str(tmp_path / "state.json"),
            # checks slow enough that a loaded machine's stand-ins answer in time: a server
            # failed by a late answer has its connections closed, as K3s's balancer does
            "--check-interval", "600ms", "--check-timeout", "500ms", "--refresh", "300ms"]
    if layout == "before":  # the README's recipe: a port of its own, the API one below it
        own = free_everywhere(["127.0.0.1"], {c.sup, c.api, c.api + 1})
        while not port_free(own - 1):  # the API listener below it must be free too
            own = free_everywhere(["127.0.0.1"], {c.sup, c.api, c.api + 1})
        listen = own
        args += ["--listen", "127.0.0.1:%d" % own]
        if api_balancer or program == "rke2":
            args += ["--apiserver-port", str(c.api), "--apiserver-listen",
                     "127.0.0.1:%d" % (own - 1)]
    else:
        listen = c.sup
        if api_balancer:
            args += ["--apiserver-port", str(c.api)]
    k3lb_addrs = ["127.0.0.1:%d" % listen]
    if "--apiserver-listen" in args:
        k3lb_addrs.append(args[args.index("--apiserver-listen") + 1])
    elif api_balancer:
        k3lb_addrs.append("127.0.0.1:%d" % c.api)
    try:
        k.start(command="agent", args=args, env={"K3S_TOKEN": c.token})
        k.wait_for(lambda st: any(s["state"] == "active" for b in st["backends"]
                                  for s in b["servers"] if b["name"] == "servers"),
                   what="an active server")
        model = AgentModel("https://127.0.0.1:%d" % listen, "pw", pki.ca_crt, pki.kubelet(),
                           pki.issue("controller", client=True, server=False,
                                     cn="system:k3s-controller"),
                           program=program, disable_lb=disable_lb, lb_port=c.api + 1,
                           k3lb=k3lb_addrs)
        dials = model.run()
        print("\n%s, k3lb listeners %s (%s):" % (recipe, ", ".join(k3lb_addrs), layout))
        for d in dials:
            print("  " + d.row())
        missed = [d for d in dials if not d.reached]
        through = {}  # per k3lb listener: the servers that answered through it
        for d in dials:
            if d.reached and "k3lb" in d.via:
                listener = d.address if d.via == "through k3lb" else d.via.split(" to ")[-1]
                through.setdefault(listener, set()).add(d.answer.split()[-1])
        tunnels = {d.answer for d in dials if d.what == "tunnel" and d.reached}
        if layout == "before" and not same_port:
            # the agent gives the learned servers k3lb's port for its tunnels, and (without
            # its balancer) asks its API servers on 127.0.0.1 at the API port
            assert missed, "the old layout was expected to miss"
            return
        assert not missed, "\n".join([d.row() for d in missed] + [k.log()])
        assert all(len(v) == 1 for v in through.values()), through  # one server each
        names = {"tunnel to sup%d" % i for i in range(len(HOSTS))}
        assert tunnels == names, tunnels
        if layout == "now":
            assert "warn split_ports" not in k.log(), k.log()
    finally:
        k.close()
        c.close()
