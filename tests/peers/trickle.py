#!/usr/bin/env python3
"""A client that holds many connections to a server and trickles its request heads, as a
slow or hostile client does: for the router's connection limits (tests/e2e/open_door.rs).

    trickle.py --port P [--from 127.0.0.2] [--count 600] [--seconds 8]

Opens ``--count`` connections from ``--from`` to 127.0.0.1:P, sends the start of a request head
on each, prints ``OPEN <n>`` (how many the server had not closed a moment later), then sends one
more header byte a second on each for ``--seconds`` and exits, closing them all.
"""

import argparse
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--from", dest="source", default="127.0.0.2")
    p.add_argument("--count", type=int, default=600)
    p.add_argument("--seconds", type=float, default=8)
    args = p.parse_args()
    conns = []
    for _ in range(args.count):
        s = socket.socket()
        s.bind((args.source, 0))
        try:
            s.connect(("127.0.0.1", args.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            conns.append(s)
        except OSError:
            s.close()
    time.sleep(0.5)
    open_now = 0
    for s in conns:
        s.setblocking(False)
        try:
            closed = s.recv(1) == b""
        except BlockingIOError:
            closed = False
        except OSError:
            closed = True
        s.setblocking(True)
        open_now += 0 if closed else 1
    print("OPEN %d" % open_now, flush=True)
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        for s in conns:
            try:
                s.send(b"x")
            except OSError:
                pass
        time.sleep(1)
    for s in conns:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
