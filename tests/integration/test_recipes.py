"""Every shipped recipe is exercised: each example config passes `k3lb check`, the systemd
units pass `systemd-analyze verify` with nothing to say, the static pod's manifest is a pod that
k3lb can run as written, its image installs exactly the libraries the binary links, and the
routing daemons' checkers take the BGP recipes. (The keepalived and BGP configs run for real in
test_vip.py and test_bgp.py.) These configs name addresses of a real network: they are only
checked here, never served."""
import glob
import os
import re
import shutil
import subprocess

import pytest
import yaml

from k3lbtest import BIN, sanitized

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "contrib/examples/*.yaml"))) + [
    os.path.join(ROOT, "contrib/k3lb.yaml"), os.path.join(ROOT, "deploy/kubernetes/k3lb.yaml")]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_shipped_config_passes_check(path):
    r = subprocess.run([BIN, "check", "-c", path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    # only warnings about secrets and files that live on the operator's machine
    for line in r.stderr.splitlines():
        assert re.search(r": warning: .*(cannot read|is not set)", line), line
    assert open(path).read().startswith("#"), "a recipe opens with what it is for"


def test_examples_cover_every_seed_scenario():
    names = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "contrib/examples/*"))}
    assert {"k3s-external-datastore.yaml", "k3s-embedded-etcd.yaml", "external-etcd.yaml",
            "rke2.yaml", "datastore-mariadb.yaml", "edge-gateway.yaml",
            "k3s-patroni-datastore.yaml"} <= names


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_units_verify_clean(tmp_path):
    """systemd-analyze exits 0 even on unknown keys: its output must be empty."""
    units = []
    for unit in glob.glob(os.path.join(ROOT, "deploy/systemd/*.service")):
        text = open(unit).read()
        assert "/usr/local/bin/k3lb" in text
        dst = tmp_path / os.path.basename(unit)
        dst.write_text(text.replace("/usr/local/bin/k3lb", os.path.abspath(BIN)))
        units.append(str(dst))
    assert len(units) == 2
    # with the announce drop-in (deploy/bgp/), found beside the unit as systemd would
    dropins = tmp_path / "k3lb.service.d"
    dropins.mkdir()
    shutil.copy(os.path.join(ROOT, "deploy/bgp/k3lb-announce.conf"), dropins / "announce.conf")
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, SYSTEMD_UNIT_PATH="%s:" % tmp_path))
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def test_static_pod_runs_the_shipped_config():
    pod = yaml.safe_load(open(os.path.join(ROOT, "deploy/kubernetes/k3lb-static-pod.yaml")))
    assert pod["kind"] == "Pod" and pod["metadata"]["namespace"] == "kube-system"
    spec = pod["spec"]
    assert spec["hostNetwork"] is True
    (c,) = spec["containers"]
    assert c["command"][:3] == ["/usr/local/bin/k3lb", "serve", "-c"]
    config = c["command"][3]
    mount = next(m for m in c["volumeMounts"] if config.startswith(m["mountPath"] + "/"))
    vol = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert "hostPath" in vol
    # the probe asks the admin listener the shipped config opens
    cfg = yaml.safe_load(open(os.path.join(ROOT, "deploy/kubernetes/k3lb.yaml")))
    live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
    for probe in (live, ready):
        assert cfg["admin"]["listen"] == "%s:%d" % (probe["host"], probe["port"])
    # alive is not ready: an outage of the servers must not restart k3lb (/livez stays 200)
    assert live["path"] == "/livez" and ready["path"] == "/healthz"
    # it binds only chosen addresses, never a whole port K3s holds on every address
    for f in cfg["frontends"]:
        assert f["freebind"] is True
        for addr in f["listen"]:
            assert not addr.startswith(":") and not addr.endswith(":6443"), addr


def test_k3s_recipes_match_the_checks():
    """The API server recipes: a ServiceAccount with a token Secret bound to it, and an
    AuthenticationConfiguration that admits anonymous requests to exactly the path an
    apiserver check asks by default."""
    docs = list(yaml.safe_load_all(open(os.path.join(ROOT, "deploy/k3s/k3lb-serviceaccount.yaml"))))
    sa, secret = docs
    assert sa["kind"] == "ServiceAccount" and secret["kind"] == "Secret"
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"]["kubernetes.io/service-account.name"] == \
        sa["metadata"]["name"]
    assert secret["metadata"]["namespace"] == sa["metadata"]["namespace"]
    auth = yaml.safe_load(open(os.path.join(ROOT, "deploy/k3s/authentication-config.yaml")))
    assert auth["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert auth["kind"] == "AuthenticationConfiguration"
    assert auth["anonymous"] == {"enabled": True, "conditions": [{"path": "/readyz"}]}
    keys = subprocess.run([BIN, "keys"], capture_output=True, text=True, check=True).stdout
    assert "| `backends[].health.apiserver.path` | string | `/readyz` |" in keys


def test_container_image_installs_what_the_binary_links():
    libs = subprocess.run(["ldd", BIN], capture_output=True, text=True, check=True).stdout
    if sanitized():
        pytest.skip("a sanitized build links more than the shipped binary")
    # The libraries the binary names itself; apt brings what those need in turn.
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", BIN], capture_output=True, text=True,
                                           check=True).stdout))
    pkgs = set()
    for name, path in re.findall(r"^\s*(\S+) => (/\S+)", libs, re.M):
        if name not in needed:
            continue
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True,
                               text=True)
        if owner.returncode == 0:
            pkgs.add(owner.stdout.split(":")[0])
    pkgs -= {"libc6", "libgcc-s1", "libstdc++6"}  # in the base image
    text = open(os.path.join(ROOT, "deploy/kubernetes/Containerfile")).read()
    installed = set(re.search(r"apt-get install -y --no-install-recommends([^&]*)&&", text,
                              re.S).group(1).replace("\\", " ").split())
    assert pkgs and pkgs <= installed, "missing from the image: %s" % (pkgs - installed)
    assert installed <= pkgs, "installed but not linked: %s" % (installed - pkgs)


@pytest.mark.skipif(not (shutil.which("vtysh") and shutil.which("bird")),
                    reason="needs FRR's vtysh and BIRD 2")
def test_bgp_recipes_parse_and_name_the_example_address():
    """The routing daemons' own checkers take the shipped configs as they are (test_bgp.py runs
    them with the lab's addresses), and every recipe announces the address the example k3lb.yaml
    names, from the interface k3lb holds it on."""
    for name in ("frr.conf", "router-frr.conf"):
        r = subprocess.run(["vtysh", "-C", "-f", os.path.join(ROOT, "deploy/bgp", name)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, name + ": " + r.stdout + r.stderr
    bird = os.path.join(ROOT, "deploy/bgp/bird.conf")
    r = subprocess.run(["bird", "-p", "-c", bird], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    example = open(os.path.join(ROOT, "contrib/k3lb.yaml")).read()
    addresses = re.search(r"^#\s+addresses: \[(.*)\]", example, re.M).group(1)
    interface = re.search(r"^#\s+interface: (\S+)", example, re.M).group(1)
    for a in re.findall(r'"([^"]+)"', addresses):
        assert "permit " + a in open(os.path.join(ROOT, "deploy/bgp/frr.conf")).read(), a
        assert a in open(bird).read(), a
    assert 'interface "%s"' % interface in open(bird).read()
    keys = subprocess.run([BIN, "keys"], capture_output=True, text=True, check=True).stdout
    assert "| `announce.interface` | string | `%s` |" % interface in keys
