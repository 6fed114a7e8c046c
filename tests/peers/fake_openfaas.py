#!/usr/bin/env python3
"""A fake OpenFaaS gateway for the end-to-end tests, following the gateway's documented REST
API (https://docs.openfaas.com/reference/rest-api/): the function list at
GET /system/functions (basic auth, like the real gateway's /system API) with each function's
``annotations`` (the router reads ``topic``), synchronous invocation at POST /function/NAME
(200 and the function's answer) and asynchronous at POST /async-function/NAME (202).

    fake_openfaas.py --port 0 --user admin --password secret

stdout (one JSON line each, flushed):

    LISTENING <port>
    {"mode": "sync"|"async", "function": NAME, "status": 200, "topic": X-Topic header,
     "connector": X-Connector header, "authorized": whether the basic auth matched,
     "content_type": ..., "event": <the JSON body>}

Test controls (no auth; not part of OpenFaaS):

    PUT /_control/functions   body: the function list to serve (JSON array)
    PUT /_control/fail        body: {"NAME": n}: the next n invocations of NAME get 500
    GET /_control/reads       {"reads": how many times /system/functions was read}

A function that is not in the list answers 404, as the gateway does.
"""

import argparse
import base64
import json
import sys
import threading
from peer_http import PeerHandler, emit, serve

lock = threading.Lock()
state = {"functions": [], "fail": {}, "reads": 0}


class Handler(PeerHandler):
    def _reply(self, status, body=b"", content_type="application/json"):
        challenge = [("WWW-Authenticate", 'Basic realm="Restricted"')] if status == 401 else []
        self.reply(status, body, content_type, challenge)

    def _authorized(self):
        want = base64.b64encode(f"{self.server.user}:{self.server.password}".encode()).decode()
        return self.headers.get("Authorization", "") == f"Basic {want}"

    def do_GET(self):
        if self.path == "/system/functions":
            if not self._authorized():
                return self._reply(401, b"unauthorized")
            with lock:
                state["reads"] += 1
                body = json.dumps(state["functions"]).encode()
            return self._reply(200, body)
        if self.path == "/_control/reads":
            with lock:
                return self._reply(200, json.dumps({"reads": state["reads"]}).encode())
        self._reply(404, b"not found", "text/plain")

    def do_PUT(self):
        body = json.loads(self.read_body() or b"null")
        with lock:
            if self.path == "/_control/functions":
                state["functions"] = body
            elif self.path == "/_control/fail":
                state["fail"].update(body)
            else:
                return self._reply(404, b"not found", "text/plain")
        self._reply(200, b"{}")

    def do_POST(self):
        raw = self.read_body()
        for prefix, mode in (("/function/", "sync"), ("/async-function/", "async")):
            if self.path.startswith(prefix):
                name = self.path[len(prefix):]
                break
        else:
            return self._reply(404, b"not found", "text/plain")
        with lock:
            known = any(f.get("name") == name.split(".")[0] for f in state["functions"])
            failing = state["fail"].get(name, 0)
            if known and failing:
                state["fail"][name] = failing - 1
        status = 404 if not known else 500 if failing else (202 if mode == "async" else 200)
        try:
            event = json.loads(raw)
        except ValueError:
            event = raw.decode(errors="replace")
        emit({
            "mode": mode,
            "function": name,
            "status": status,
            "topic": self.headers.get("X-Topic"),
            "content_type": self.headers.get("Content-Type"),
            "connector": self.headers.get("X-Connector"),
            "authorized": self._authorized(),
            "event": event,
        })
        self._reply(status, b"{}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user", default="admin")
    p.add_argument("--password", default="secret")
    args = p.parse_args()
    serve(Handler, args.port, user=args.user, password=args.password)
    return 0


if __name__ == "__main__":
    sys.exit(main())
