"""k3lb in front of a real 3-member etcd cluster with TLS and client-certificate auth, as an
API server's --etcd-servers=https://LB:2379 would use it. TLS passes through untouched."""
from k3lbtest import free_port, simple_config


def test_etcdctl_through_k3lb_survives_member_kill(k3lb, etcd):
    cluster = etcd
    k = k3lb()
    port, admin = free_port(), free_port()
    k.admin_port = admin
    k.start(simple_config(["127.0.0.1:%d" % port], [m.endpoint for m in cluster.members], admin,
                          health="interval: 500ms, timeout: 250ms, fall: 2"))
    lb = ["127.0.0.1:%d" % port]
    cluster.etcdctl(lb, "put", "k3lb", "ok")
    assert cluster.etcdctl(lb, "get", "k3lb", "--print-value-only").stdout.strip() == "ok"
    # without a client certificate etcd itself refuses: k3lb did not terminate TLS
    r = cluster.etcdctl(lb, "get", "k3lb", check=False, client_cert=False)
    assert r.returncode != 0

    cluster.members[0].kill()
    for i in range(30):
        r = cluster.etcdctl(lb, "get", "k3lb", "--print-value-only", check=False)
        assert r.returncode == 0 and r.stdout.strip() == "ok", (i, r.stderr)
    cluster.etcdctl(lb, "put", "after", "kill")  # 2 of 3 still make a quorum
    k.wait_for(lambda st: st["backends"][0]["servers"][0]["state"] == "down",
               what="killed member marked down")
    up = [s for s in k.status()["backends"][0]["servers"] if s["state"] == "up"]
    assert len(up) == 2
