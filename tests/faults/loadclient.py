#!/usr/bin/env python3
"""Bounded load for the fault suite, run inside the client's network namespace.

Opens --count connections to --target (at most --concurrency at once, and none started after
--seconds), each moving a random amount of data both ways with a half-close, checked byte for
byte with sha256 by integrity_client() against tools/backend.py's integrity mode. Prints one
JSON line per finished connection (start and end on the monotonic clock, which every namespace
shares, sizes, error or null), then a line {"done": n}."""
import argparse
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../integration"))
from k3lbtest import integrity_client  # noqa: E402

lock = threading.Lock()


def size(rng, cap):
    """Mostly small, some large, a few up to cap: K3s's watches and lists, and bulk."""
    r = rng.random()
    if r < 0.15:
        return 0
    if r < 0.55:
        return rng.randrange(1, 4096)
    if r < 0.9:
        return rng.randrange(4096, 256 << 10)
    return rng.randrange(256 << 10, cap + 1)


def worker(args, host, port, rng, next_id, stop_at):
    while True:
        with lock:
            if next_id[0] >= args.count or time.monotonic() >= stop_at:
                return
            i = next_id[0]
            next_id[0] += 1
            up, down = size(rng, args.max_size), size(rng, args.max_size)
        t0 = time.monotonic()
        try:
            err = integrity_client(port, up, down, host=host, timeout=args.io_timeout)
        except OSError as e:
            err = "connect: %r" % e
        rec = {"id": i, "t0": t0, "t1": time.monotonic(), "up": up, "down": down, "err": err}
        with lock:
            sys.stdout.write(json.dumps(rec) + "\n")
            sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True, help="host:port")
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--concurrency", type=int, default=6)
    p.add_argument("--max-size", type=int, default=4 << 20)
    p.add_argument("--io-timeout", type=float, default=20,
                   help="a connection silent this long counts as hung")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    host, port = args.target.rsplit(":", 1)
    next_id, stop_at = [0], time.monotonic() + args.seconds
    threads = [threading.Thread(target=worker, daemon=True,
                                args=(args, host, int(port), random.Random(args.seed * 1000 + n),
                                      next_id, stop_at))
               for n in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"done": next_id[0]}), flush=True)


if __name__ == "__main__":
    main()
