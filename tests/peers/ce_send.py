#!/usr/bin/env python3
"""Sends CloudEvents made with the CloudEvents SDK (cloudevents 2.x core API) to a URL.

Run with the test venv (scripts/install-test-tools.sh):

    ce_send.py --url URL --mode binary|structured|batch [--count N] [--id-prefix P]
               [--user U --password P] [--pad BYTES] [--method POST]

Each event: id "<prefix><i>", source "urn:e2e:webhook", type "com.example.e2e.test",
subject "VmPoweredOnEvent é" (non-ASCII, so binary mode must percent-encode it),
extension "vspherevm" = "vm-<i>", time 2026-11-30T10:00:00Z, JSON data
{"index": i, "pad": "x" * BYTES}. binary and structured send one request per event
(the SDK's to_binary / to_structured); batch sends every event in one
application/cloudevents-batch+json request (the SDK's JSON format per event).

Prints one JSON line per request: {"status", "body", "www_authenticate"}.
"""

import argparse
import datetime
import json
import sys
import urllib.error
import urllib.request
import base64

from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent


def event(prefix, i, pad):
    attrs = {
        "specversion": "1.0",
        "id": f"{prefix}{i}",
        "source": "urn:e2e:webhook",
        "type": "com.example.e2e.test",
        "subject": "VmPoweredOnEvent é",
        "vspherevm": f"vm-{i}",
        "time": datetime.datetime(2026, 11, 30, 10, 0, 0, tzinfo=datetime.timezone.utc),
        "datacontenttype": "application/json",
    }
    return CloudEvent(attrs, {"index": i, "pad": "x" * pad})


def send(url, method, headers, body, auth):
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text, challenge = resp.status, resp.read().decode(), resp.headers.get("WWW-Authenticate")
    except urllib.error.HTTPError as e:
        status, text, challenge = e.code, e.read().decode(), e.headers.get("WWW-Authenticate")
    print(json.dumps({"status": status, "body": text, "www_authenticate": challenge}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--mode", choices=["binary", "structured", "batch"], required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--id-prefix", default="e2e-")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--pad", type=int, default=0)
    p.add_argument("--method", default="POST")
    args = p.parse_args()
    auth = f"{args.user}:{args.password}" if args.user is not None else None
    events = [event(args.id_prefix, i, args.pad) for i in range(args.count)]
    fmt = JSONFormat()
    if args.mode == "batch":
        body = b"[" + b",".join(fmt.write(e) for e in events) + b"]"
        send(args.url, args.method, {"Content-Type": "application/cloudevents-batch+json"}, body, auth)
        return 0
    for e in events:
        msg = to_binary(e, fmt) if args.mode == "binary" else to_structured(e, fmt)
        send(args.url, args.method, msg.headers, msg.body, auth)
    return 0


if __name__ == "__main__":
    sys.exit(main())
