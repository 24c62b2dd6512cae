"""A model of what a real K3s (or RKE2) agent dials, for the lab (there is no K3s binary here):
given its --server URL, its token, --disable-apiserver-lb or not, it works out every address
and port the agent's own code would connect to and connects there, as that agent would, so a
test can see whether each dial reaches a real server port. It follows k3s-io/k3s master, read
as mirrored in github.com/vitorsavian/k3s at 866d743e56ecec4a7a9860a22f9930afa39ff722:

- the supervisor port is the port written in --server, taken as it is (pkg/agent/proxy/
  apiproxy.go:58-63); its own balancer, unless --disable-apiserver-lb, listens on 127.0.0.1 at
  --lb-server-port (6444) with --server as its default server (apiproxy.go:45-56,
  pkg/agent/loadbalancer/loadbalancer.go:44-89), and every supervisor request goes to it;
  without it, to --server itself (apiproxy.go:37-41);
- it asks /cacerts (pkg/clientaccess/token.go:412-439), then /v1-<program>/config
  (pkg/agent/config/config.go:446-451), then /v1-<program>/readyz (config.go:787-807), each on
  a connection of its own (keep-alives off, token.go:284-290);
- when the servers' SupervisorPort and HTTPSPort differ, its API server URL is
  https://<--server host>:<HTTPSPort> without a balancer, or its second balancer on
  --lb-server-port - 1 with that default (apiproxy.go:134-165; config.go:462-466); else the
  supervisor URL; the kubelet uses it (config.go:467, 747);
- with its balancer it asks /v1-<program>/apiservers once at start (config.go:99-125) and moves
  its balancer to what it learns; every list it learns (that one, then the kubernetes
  EndpointSlice's endpoints, read with the controller's identity through the API server URL,
  pkg/agent/tunnel/tunnel.go:303-331) is rewritten to the supervisor port when the ports differ
  (apiproxy.go:88-127);
- its tunnels go straight to each address, never through a balancer: wss://<address>/
  v1-<program>/connect with the kubelet's certificate (tunnel.go:372-398); before it learned any
  (without its balancer), to the --server address (apiproxy.go:197-202).

The agent's own balancers are not run: a dial through one is made to the server it would pick
(the first learned address, else its default), and says so. The etcd proxy runs on
control-plane-only servers only (pkg/cluster/bootstrap.go:51-57), not on agents."""
import base64
import http.client
import json
import socket
import ssl
from urllib.parse import urlsplit

from contrib.lab.websocket import WebSocket


class Dial:
    """One connection the agent makes: what for, where to (host:port), how (direct, through
    k3lb, or through the agent's own balancer to a server), and what answered."""

    def __init__(self, what, address, via):
        self.what, self.address, self.via = what, address, via
        self.reached, self.answer = False, ""

    def row(self):
        return "%-34s %-22s %-40s %s" % (self.what, self.address, self.via,
                                          ("reached " + self.answer) if self.reached
                                          else "NOT REACHED: " + self.answer)


def hostport(host, port):
    return "[%s]:%s" % (host, port) if ":" in host else "%s:%s" % (host, port)


def split(address):
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class AgentModel:
    def __init__(self, server_url, token, ca, kubelet, controller, program="k3s",
                 disable_lb=False, lb_port=6444, k3lb=()):
        """token: what the agent presents (user node with its password, or a bootstrap token);
        ca: the cluster CA the agent has learnt; kubelet, controller: their certificates
        (cert, key); k3lb: the host:port addresses k3lb listens on (to name dials through it)."""
        self.url, self.token, self.ca = server_url, token, ca
        self.kubelet, self.controller, self.program = kubelet, controller, program
        self.disable_lb, self.lb_port, self.k3lb = disable_lb, lb_port, set(k3lb)
        u = urlsplit(server_url)
        self.host = u.hostname
        self.supervisor_port = str(u.port) if u.port else ""  # raw, as apiproxy.go takes it
        self.default = hostport(u.hostname, u.port or 443)  # as loadbalancer.go adds it
        self.learned = []  # what its supervisor balancer learnt (supervisor addresses)
        self.api_learned = []  # and its API balancer, when the ports differ
        self.split = None  # (SupervisorPort, HTTPSPort) when they differ
        self.dials = []

    # ---- where a request goes --------------------------------------------------------------

    def _via(self, address, balancer=None):
        """How a connection to address goes, in words."""
        if balancer:
            address, how = balancer
            return address, "agent's %s to %s%s" % (how, address,
                                                   " (k3lb)" if address in self.k3lb else "")
        return address, "through k3lb" if address in self.k3lb else "direct"

    def _supervisor_target(self):
        if self.disable_lb:
            return self._via(self.default)
        return self._via(None, ((self.learned or [self.default])[0], "balancer :%d"
                                % self.lb_port))

    def _api_target(self):
        if not self.split:
            return self._supervisor_target()
        api = hostport(self.host, self.split[1])
        if self.disable_lb:
            return self._via(api)
        # its API balancer has no default when the default would be its own address
        default = [] if split(api) == ("127.0.0.1", self.lb_port - 1) else [api]
        return self._via(None, ((self.api_learned or default or [api])[0], "API balancer :%d"
                                % (self.lb_port - 1)))

    # ---- requests --------------------------------------------------------------------------

    def _https(self, what, target, path, auth=None, cert=None):
        address, via = target
        d = Dial(what, address, via)
        self.dials.append(d)
        host, port = split(address)
        ctx = ssl.create_default_context(cafile=self.ca)
        if cert:
            ctx.load_cert_chain(*cert)
        c = http.client.HTTPSConnection(host, port, context=ctx, timeout=5)
        try:
            headers = {"Authorization": auth} if auth else {}
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            body = r.read()
            d.reached = r.status == 200
            d.answer = "%d from %s" % (r.status, self._name(address, cert))
            return body if d.reached else None
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            d.answer = str(e) or type(e).__name__
            return None
        finally:
            c.close()

    def _name(self, address, cert):
        """Which stand-in answered at address (its /name), for the record."""
        host, port = split(address)
        ctx = ssl.create_default_context(cafile=self.ca)
        try:
            with socket.create_connection((host, port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=host) as s:
                    s.sendall(b"GET /name HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    data = b""
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
            return data.partition(b"\r\n\r\n")[2].decode() or "?"
        except OSError:
            return "?"

    def _basic(self):
        if "." in self.token and len(self.token) == 23:
            return "Bearer " + self.token
        return "Basic " + base64.b64encode(("node:" + self.token).encode()).decode()

    def _tunnel(self, address):
        d = Dial("tunnel", *self._via(address))
        self.dials.append(d)
        host, port = split(address)
        try:
            ws = WebSocket(port, self.ca, host=host, client=self.kubelet, timeout=5,
                           path="/v1-%s/connect" % self.program)
            d.reached, d.answer = True, "tunnel to " + ws.server
            ws.close()
        except (OSError, ssl.SSLError, EOFError, ConnectionError) as e:
            d.answer = str(e) or type(e).__name__

    def _rewrite(self, addresses):
        """proxy.Update: the supervisor port when the servers' ports differ."""
        if not self.split:
            return addresses
        return [hostport(split(a)[0], self.supervisor_port) for a in addresses]

    # ---- the agent's start ----------------------------------------------------------------

    def run(self):
        """Registration, the kubelet's first API request, the list and the tunnels; returns
        the dials."""
        p = "/v1-" + self.program
        self._https("GET /cacerts", self._supervisor_target(), "/cacerts")
        cfg = self._https("GET %s/config" % p, self._supervisor_target(), p + "/config",
                          self._basic())
        if cfg:
            c = json.loads(cfg)
            if c["SupervisorPort"] != c["HTTPSPort"]:
                self.split = (c["SupervisorPort"], c["HTTPSPort"])
        self._https("GET %s/readyz" % p, self._supervisor_target(), p + "/readyz",
                    self._basic())
        if self.disable_lb:
            tunnels = [self.default]  # the fallback supervisor address
        else:
            listing = self._https("GET %s/apiservers" % p, self._supervisor_target(),
                                  p + "/apiservers", self._basic())
            tunnels = self._rewrite(json.loads(listing)) if listing else []
            self.learned, self.api_learned = sorted(tunnels), sorted(json.loads(listing or "[]"))
        for a in tunnels:
            self._tunnel(a)
        # then the kubelet starts (pkg/agent/run.go: the tunnel is set up first)
        self._https("kubelet: GET /version", self._api_target(), "/version", cert=self.kubelet)
        # the controller's EndpointSlice watch, through the API server URL
        body = self._https("controller: list EndpointSlices", self._api_target(),
                           "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                           cert=self.controller)
        if body:
            eps = []
            for item in json.loads(body)["items"]:
                port = item["ports"][0]["port"] if item.get("ports") else 443
                eps += [hostport(x, port) for e in item["endpoints"] for x in e["addresses"]]
            new = self._rewrite(sorted(eps))
            if not self.disable_lb:
                self.learned, self.api_learned = new, sorted(eps)
            for a in new:
                if a not in tunnels:
                    self._tunnel(a)
        # what its API clients do from then on: the kubelet's next request
        self._https("kubelet: GET /version (later)", self._api_target(), "/version",
                    cert=self.kubelet)
        return self.dials
