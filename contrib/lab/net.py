"""Loopback helpers shared by the lab and the tests."""
import socket


def free_port(host="127.0.0.1"):
    """A port the kernel just handed out and released, for a server started right after."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
