#!/usr/bin/env python3
"""Accept-and-hold server for the idle-memory benchmark: keeps every connection open, and
writes the number it holds to --count-file after each change (the benchmark waits on it)."""
import argparse
import selectors
import socket


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ports", required=True, help="comma list of ports on 127.0.0.1")
    p.add_argument("--count-file", required=True)
    a = p.parse_args()
    sel = selectors.DefaultSelector()
    for port in a.ports.split(","):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(port)))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, "listen")
    held = 0
    while True:
        changed = False
        for key, _ in sel.select():
            if key.data == "listen":
                while True:
                    try:
                        c, _ = key.fileobj.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, "conn")
                    held += 1
                    changed = True
            else:
                try:
                    d = key.fileobj.recv(4096)
                except OSError:
                    d = b""
                if not d:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    held -= 1
                    changed = True
        if changed:
            with open(a.count_file, "w") as f:
                f.write(str(held))


if __name__ == "__main__":
    main()
