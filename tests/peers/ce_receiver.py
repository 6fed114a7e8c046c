#!/usr/bin/env python3
"""CloudEvents HTTP sink for the end-to-end tests.

Run with the test venv (scripts/install-test-tools.sh):

    .tools/venv/bin/python tests/peers/ce_receiver.py --port 0 [--status 503 --fail-count 2]

stdout protocol (one line each, flushed):

    LISTENING <port>
    {"mode": "binary"|"structured", "attributes": {...}, "defaulted": [...], "data": ..., "status": 202}
    {"error": "...", "status": 400, ...}           # malformed request

* Every POST is parsed with the CloudEvents SDK (cloudevents 2.x core HTTP
  binding; 1.x ``cloudevents.http.from_http`` as a fallback). ``mode`` comes from
  the Content-Type header: "structured" when it starts with
  ``application/cloudevents``, else "binary"; the request is parsed in that mode.
* ``attributes`` holds every attribute and extension as parsed by the SDK, as
  strings (``time`` as RFC 3339, ``Z`` for UTC). Binary-mode header values are
  percent-decoded by the SDK (``ce-subject: a%20b`` gives ``"a b"``).
* ``defaulted`` lists attributes the SDK made up because the request lacked
  them: the 2.x SDK silently sets ``specversion`` ("1.0"), ``id`` (a UUID4) and
  ``time`` (now) when missing, so a test that wants to know whether the sender
  set them must check that this list is empty.
* ``data`` is the parsed data (JSON value, or text); non-UTF-8 binary data is
  reported as ``data_base64`` instead.
* ``--fail-for S`` answers ``--status`` to every POST in the first S seconds;
  ``--fail-while FILE`` answers ``--status`` to every POST while FILE exists (a sink that is
  down until the test brings it back by removing FILE);
  ``--reject-subject X`` answers 400 to every event whose subject is X (with
  ``--reject-while FILE``, only while FILE exists: the test heals the sink by
  removing it);
  ``--slow-for S --delay D`` takes D seconds per POST during the first S seconds;
  ``--random-delay MIN:MAX`` takes a uniformly random MIN..MAX seconds per POST (a sink whose
  latency varies, so concurrent deliveries finish out of order).
* The answer is 202, except for the first ``--fail-count`` POSTs (in arrival
  order), which get ``--status``. A request the SDK cannot parse is answered
  400 (it still counts as one of those first POSTs).
* ``GET`` answers 200 "ok" (readiness probe) and is not logged.
"""

import argparse
import base64
import datetime
import json
import os
import random
import sys
import threading
import time
from peer_http import PeerHandler, emit, serve

try:  # cloudevents >= 2.0: the new core API (the 1.x API lives on as cloudevents.v1)
    from cloudevents.core.bindings.http import HTTPMessage, from_binary, from_structured
    from cloudevents.core.formats.json import JSONFormat

    def parse_event(mode, headers, body):
        # Not the SDK's from_http(): in 2.x it picks binary mode whenever any ce-*
        # header is present, so a structured request that also carries e.g.
        # ce-traceparent fails. The HTTP binding (and Knative, and the 1.x SDK)
        # decide by Content-Type, as `mode` does.
        message = HTTPMessage(headers=headers, body=body)
        parse = from_structured if mode == "structured" else from_binary
        event = parse(message, JSONFormat())
        return event.get_attributes(), event.get_data()

except ImportError:  # cloudevents 1.x: from_http() decides by Content-Type itself
    from cloudevents.http import from_http as _v1_from_http

    def parse_event(mode, headers, body):
        event = _v1_from_http(headers, body)
        return dict(event.get_attributes()), event.get_data()


def wire_attribute_names(mode, headers, body):
    """Attribute names the request itself carried (the SDK fills in some defaults)."""
    if mode == "structured":
        try:
            doc = json.loads(body)
        except ValueError:
            return set()
        return set(doc) - {"data", "data_base64"} if isinstance(doc, dict) else set()
    names = {k.lower()[3:] for k in headers if k.lower().startswith("ce-")}
    if any(k.lower() == "content-type" for k in headers):
        names.add("datacontenttype")
    return names


def attr_str(value):
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text
    return str(value)


class Counter:
    def __init__(self):
        self._lock = threading.Lock()
        self._n = 0

    def next(self):
        with self._lock:
            self._n += 1
            return self._n


class Handler(PeerHandler):
    server_version = "ce-receiver/1"

    def _reply(self, status, body=b""):
        self.reply(status, body, "text/plain; charset=utf-8" if body else None)

    def do_GET(self):  # noqa: N802
        self._reply(200, b"ok\n")

    def do_POST(self):  # noqa: N802
        seq = self.server.requests.next()
        if time.monotonic() < self.server.slow_until:
            time.sleep(self.server.delay)
        if self.server.random_delay:
            time.sleep(random.uniform(*self.server.random_delay))
        failing = (
            seq <= self.server.fail_count
            or time.monotonic() < self.server.fail_until
            or (self.server.fail_while is not None and os.path.exists(self.server.fail_while))
        )
        status = self.server.fail_status if failing else 202
        content_type = self.headers.get("Content-Type", "")
        mode = (
            "structured"
            if content_type.strip().lower().startswith("application/cloudevents")
            else "binary"
        )
        try:
            body = self.read_body()
            headers = dict(self.headers.items())
            attributes, data = parse_event(mode, headers, body)
        except Exception as exc:  # any SDK / JSON / validation error: bad request
            emit(
                {
                    "error": "%s: %s" % (type(exc).__name__, exc),
                    "mode": mode,
                    "path": self.path,
                    "status": 400,
                }
            )
            self._reply(400, ("%s\n" % exc).encode("utf-8", "replace"))
            return
        if (
            self.server.reject_subject is not None
            and attributes.get("subject") == self.server.reject_subject
            and (self.server.reject_while is None or os.path.exists(self.server.reject_while))
        ):
            status = 400
        record = {
            "mode": mode,
            "attributes": {k: attr_str(v) for k, v in attributes.items() if v is not None},
            "defaulted": sorted(set(attributes) - wire_attribute_names(mode, headers, body)),
            "status": status,
            "authorization": self.headers.get("Authorization"),
            "user_agent": self.headers.get("User-Agent"),
        }
        if isinstance(data, (bytes, bytearray)):
            record["data_base64"] = base64.b64encode(bytes(data)).decode("ascii")
            record["data"] = None
        else:
            record["data"] = data
        emit(record)
        self._reply(status)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--status", type=int, default=503, help="status for the failing requests")
    parser.add_argument(
        "--fail-count", type=int, default=0, help="answer --status to the first N POSTs"
    )
    parser.add_argument(
        "--fail-for", type=float, default=0, help="answer --status to every POST for the first N seconds"
    )
    parser.add_argument("--fail-while", help="answer --status to every POST while this file exists")
    parser.add_argument(
        "--reject-subject", help="answer 400 to every event with this subject (a poison event)"
    )
    parser.add_argument("--reject-while", help="reject --reject-subject only while this file exists")
    parser.add_argument("--delay", type=float, default=0, help="seconds each POST takes while slow")
    parser.add_argument(
        "--slow-for", type=float, default=0, help="take --delay per POST during the first N seconds"
    )
    parser.add_argument(
        "--random-delay", help="MIN:MAX seconds, uniformly random, that each POST takes"
    )
    parser.add_argument("--verbose", action="store_true", help="access log on stderr")
    args = parser.parse_args(argv)
    random_delay = tuple(float(x) for x in args.random_delay.split(":")) if args.random_delay else None

    serve(
        Handler,
        args.port,
        requests=Counter(),
        fail_status=args.status,
        fail_count=args.fail_count,
        fail_until=time.monotonic() + args.fail_for,
        fail_while=args.fail_while,
        reject_subject=args.reject_subject,
        reject_while=args.reject_while,
        slow_until=time.monotonic() + args.slow_for,
        delay=args.delay,
        random_delay=random_delay,
        verbose=args.verbose,
    )


if __name__ == "__main__":
    main()
