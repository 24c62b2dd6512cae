"""Loopback helpers shared by the lab and the tests."""
import socket
import time

_handed_out = set()


def free_port(host="127.0.0.1"):
    """A port the kernel just handed out and released, for a server started right after. Never
    the same port twice in one process: two calls in a row (a listener and an admin port) could
    otherwise get the same one back before either is bound."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise OSError("no fresh port after 100 tries")


def reserve_port(host="127.0.0.1"):
    """A port held by a bound socket that does not listen: connects to it are refused, and no
    other process (a test running beside this one) can listen on it meanwhile, as it could on
    a port from free_port(). Close the socket right before starting the server meant for it."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)  # no SO_REUSEADDR: nobody else may bind it
    s.bind((host, 0))
    _handed_out.add(s.getsockname()[1])
    return s.getsockname()[1], s


def wait_until(predicate, timeout, what, every=0.05):
    """Polls predicate until it is true, for states that change on another process's clock
    (a VRRP election, a Patroni promotion) where there is nothing to wait on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError("timed out waiting for " + what)
