#!/usr/bin/env python3
"""Replays recorded events through the real router and compares each CloudEvent's data, field
by field, with the JSON VEBA's router makes of the same XML (govmomi v0.30.2; the .json next to
each .xml, from tests/peers/govmomi_json.py).

    compare_router.py --router target/debug/event-router DIR... [--keep DIR] [--summary] [--bytes]

For every DIR/<name>.xml with a DIR/<name>.json: serves the events with
tests/peers/replay_vcenter.py, runs the router (binary mode, one Knative sink on loopback,
concurrency 1) until it has delivered them all, and prints one line per difference
(`<name>: <path>: ...`, see govmomi_json.py diff); `--summary` also groups them by type and
field path. Exit 0 when the router's data equals the reference everywhere (byte for byte after
parsing: same keys in the same order, same values, numbers written the same), 1 otherwise.
`--keep-newer` accepts one kind of difference, by the router's design: a field govmomi v0.30.2
does not declare (a newer vCenter's) is kept by the router where VEBA drops it; such lines are
printed as notes and do not fail the run.
`--bytes` also reports what only the bytes show: <, >, & (and U+2028, U+2029) written raw
where json.Marshal escapes them (\\u003c, \\u003e, \\u0026; a JSON parser sees no difference),
and any other byte difference when every field is equal. `--keep DIR` keeps the router's
bodies there (<name>.json). Needs only the Python standard library and the router.
"""

import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import govmomi_json  # noqa: E402


def sink():
    bodies = []
    cond = threading.Condition()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with cond:
                bodies.append(body)
                cond.notify_all()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, bodies, cond


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--router", required=True)
    p.add_argument("--keep")
    p.add_argument("--summary", action="store_true")
    p.add_argument("--bytes", action="store_true")
    p.add_argument("--keep-newer", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("dirs", nargs="+")
    args = p.parse_args()

    cases = {}  # key -> (name, xml path, json path)
    for d in args.dirs:
        for xml in sorted(glob.glob(os.path.join(d, "*.xml"))):
            ref = xml[:-4] + ".json"
            if not os.path.exists(ref):
                continue
            with open(xml, encoding="utf-8") as f:
                key = int(re.search(r"<key>\s*(-?\d+)\s*</key>", f.read()).group(1))
            if key in cases:
                sys.exit("compare_router.py: key %d in both %s and %s" % (key, cases[key][1], xml))
            cases[key] = (os.path.basename(xml)[:-4], xml, ref)
    if not cases:
        sys.exit("compare_router.py: no <name>.xml with a <name>.json in %s" % args.dirs)

    server, bodies, cond = sink()
    replay = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "replay_vcenter.py")] + [c[1] for c in cases.values()],
        stdout=subprocess.PIPE, text=True)
    router = None
    tmp = tempfile.mkdtemp(prefix="compare-router-")
    try:
        line = replay.stdout.readline()
        port = int(line.split()[1])
        threading.Thread(target=lambda: [None for _ in replay.stdout], daemon=True).start()
        cfg = os.path.join(tmp, "config.yaml")
        with open(cfg, "w") as f:
            f.write("""apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: compare
eventProvider:
  type: vcenter
  name: replay
  vcenter:
    address: http://127.0.0.1:%d/sdk
    checkpoint: false
    auth:
      type: basic_auth
      basicAuth:
        username: user
        password: pass
eventProcessor:
  type: knative
  name: sink
  concurrency: 1
  knative:
    encoding: binary
    destination:
      uri: http://127.0.0.1:%d/
metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:%d
""" % (port, server.server_address[1], free_port()))
        log = open(os.path.join(tmp, "router.log"), "w")
        router = subprocess.Popen([args.router, "--config", cfg, "--log-level", "info"],
                                  stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + args.timeout
        with cond:
            while len(bodies) < len(cases) and time.time() < deadline and router.poll() is None:
                cond.wait(0.2)
        got = list(bodies)
    finally:
        if router is not None:
            router.terminate()
            router.wait()
        replay.terminate()
        replay.wait()
        server.shutdown()
    if len(got) < len(cases):
        with open(os.path.join(tmp, "router.log")) as f:
            sys.stderr.write(f.read()[-4000:])
        sys.exit("compare_router.py: the router delivered %d of %d events" % (len(got), len(cases)))

    by_key = {}
    for body in got:
        key = json.loads(body)["Key"]
        by_key[key] = body
    lines = []
    groups = collections.defaultdict(set)
    with tempfile.TemporaryDirectory() as td:
        for key, (name, _, ref) in sorted(cases.items()):
            body = by_key.get(key)
            if body is None:
                lines.append("%s: not delivered" % name)
                continue
            path = os.path.join(args.keep or td, name + ".json")
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)
            out = []
            govmomi_json.diff(govmomi_json.load_ordered(ref), govmomi_json.load_ordered(path), "", out, False)
            if args.bytes:
                # json.Marshal never writes <, >, &, U+2028 or U+2029 raw (HTMLEscape): in
                # JSON text they can only be inside strings.
                raw = sorted(set(re.findall("[<>&\u2028\u2029]", body.decode("utf-8", "replace"))))
                if raw:
                    out.append("(bytes): raw %s in strings (json.Marshal writes \\u%s)"
                               % (" ".join(raw), " \\u".join("%04x" % ord(c) for c in raw)))
                if not out:
                    with open(ref, "rb") as f:
                        if f.read().rstrip(b"\n") != body:
                            out.append("(bytes): differ, every field equal")
            for d in out:
                if args.keep_newer and ": extra key (" in d:
                    print("note: %s: %s (kept: newer than govmomi v0.30.2)" % (name, d))
                    continue
                lines.append("%s: %s" % (name, d))
                field = re.sub(r"\[\d+\]", "[]", d.split(":", 1)[0])
                groups[(name.split("-", 1)[1], field, d.split(": ", 1)[1])].add(name)
    for line in lines:
        print(line)
    if args.summary and groups:
        print("\n%d distinct (type, field, difference):" % len(groups))
        for (ty, field, what), names in sorted(groups.items()):
            print("  %-28s %-60s %s  (%d events)" % (ty, field, what, len(names)))
    print("compare_router.py: %d events, %d differences" % (len(cases), len(lines)), file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
