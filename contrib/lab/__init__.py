"""A local lab on loopback: certificates, a real etcd cluster, API-server stand-ins.

Used by `contrib/demo.py` and by the integration tests, so both run k3lb against the same
real parts.
"""
