import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import k3lbtest  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../.."))
from contrib.lab.etcd_cluster import EtcdCluster  # noqa: E402
from contrib.lab.pki import Pki  # noqa: E402


@pytest.fixture
def backends():
    made = []

    def make(*args, **kw):
        b = k3lbtest.Backend(*args, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture
def k3lb(tmp_path):
    made = []

    def make():
        k = k3lbtest.K3lb(str(tmp_path))
        made.append(k)
        return k

    yield make
    for k in made:
        k.close()


@pytest.fixture
def pki(tmp_path):
    return Pki(str(tmp_path / "pki"))


@pytest.fixture
def etcd(tmp_path, pki):
    c = EtcdCluster(str(tmp_path), pki)
    c.start()
    yield c
    c.close()
