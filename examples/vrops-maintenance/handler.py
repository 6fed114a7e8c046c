#!/usr/bin/env python3
"""vrops-maintenance: mirrors vSphere host maintenance mode into vRealize Operations (Aria
Operations). When a host has entered maintenance mode (EnteredMaintenanceModeEvent) its
HostSystem resource in vROps is marked maintained, so vROps stops alerting on planned work;
when it leaves (ExitMaintenanceModeEvent) the mark is removed.

A CloudEvents HTTP function (binary or structured mode) using vROps's documented suite-api:

  POST   /suite-api/api/auth/token/acquire            {"username", "password", "authSource"?}
  GET    /suite-api/api/resources?resourceKind=HostSystem&adapterKind=VMWARE&name=<host>
  PUT    /suite-api/api/resources/{id}/maintained      (no duration: MAINTAINED_MANUAL)
  DELETE /suite-api/api/resources/{id}/maintained

The token is kept until shortly before it expires and acquired again after a 401. The answer is
2xx when the event is done with (marked, unmarked, or no such host in vROps), 503 when vROps
could not be reached or answered 429/5xx (the broker sends the event again), 502 when vROps
refused for good (bad credentials, say: retried, then dead-lettered), 400 for a request that
is not a CloudEvent about a host.

Configuration (environment):

  VROPS_URL                  https://vrops.corp.local (required)
  VROPS_USERNAME             (required)
  VROPS_PASSWORD             the password (a secret), or VROPS_PASSWORD_FILE (a mounted Secret)
  VROPS_AUTH_SOURCE          the authentication source, for a directory user (optional)
  VROPS_CA_FILE              CA bundle for vROps's certificate; VROPS_INSECURE=true skips the check
  VROPS_MAINTENANCE_MINUTES  mark for this long (MAINTAINED) instead of until the exit (optional)
  VROPS_TOKEN_SCHEME         the Authorization scheme (default vRealizeOpsToken; OpsToken on
                             Aria Operations 8.x and later also works)
  HTTP_TIMEOUT_SECONDS       per vROps request (default 10)
  PORT, HOST                 where to listen (default 8080 on 0.0.0.0; PORT=0 picks a free port)

Prints ``LISTENING <port>`` on stdout once it listens; logs are JSON lines on stderr. The
password and the token are never logged.
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from cloudevents.core.bindings import http as ce_http


# --- the function ------------------------------------------------------------------------

API = "/suite-api/api"
EVENTS = {"EnteredMaintenanceModeEvent": "mark", "ExitMaintenanceModeEvent": "unmark"}


class Refused(Exception):
    """vROps answered an error; ``retry`` when trying again later may help."""

    def __init__(self, what, status):
        super().__init__("%s: HTTP %d" % (what, status))
        self.status = status
        self.retry = status == 429 or status >= 500


class VROps:
    def __init__(self, url, username, password, auth_source, verify, timeout, scheme):
        self.url = url.rstrip("/")
        self.credentials = {"username": username, "password": password}
        if auth_source:
            self.credentials["authSource"] = auth_source
        self.timeout = timeout
        self.scheme = scheme
        self.http = requests.Session()
        # Per request, not Session.verify: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the
        # environment override a session's verify setting.
        self.verify = verify
        self.lock = threading.Lock()
        self.token = None
        self.expires = 0.0

    def _acquire(self):
        answer = self.http.post(
            self.url + API + "/auth/token/acquire",
            json=self.credentials,
            headers={"Accept": "application/json"},
            timeout=self.timeout,
            verify=self.verify,
        )
        if answer.status_code != 200:
            raise Refused("token acquire", answer.status_code)
        doc = answer.json()
        # validity: when the token expires, in ms since the epoch; renew a minute early.
        self.expires = float(doc.get("validity") or 0) / 1000 - 60 if doc.get("validity") else time.time() + 1200
        self.token = doc["token"]
        log("info", "acquired a vROps token")

    def _current_token(self):
        with self.lock:
            if self.token is None or time.time() >= self.expires:
                self._acquire()
            return self.token

    def call(self, method, path, **kwargs):
        """The answer to an API call; a 401 (the token expired or was revoked) gets a new token
        and one more try."""
        for attempt in (1, 2):
            token = self._current_token()
            answer = self.http.request(
                method,
                self.url + path,
                headers={"Authorization": "%s %s" % (self.scheme, token), "Accept": "application/json"},
                timeout=self.timeout,
                verify=self.verify,
                **kwargs,
            )
            if answer.status_code == 401 and attempt == 1:
                with self.lock:
                    if self.token == token:
                        self.token = None
                continue
            return answer
        return answer

    def find_host(self, name, moref):
        """The HostSystem resource named ``name`` (vROps matches ``name`` loosely: keep the exact
        names; when vCenters share a host name, the one whose VMEntityObjectID is ``moref``)."""
        answer = self.call(
            "GET",
            API + "/resources",
            params={"resourceKind": "HostSystem", "adapterKind": "VMWARE", "name": name},
        )
        if answer.status_code != 200:
            raise Refused("resource query", answer.status_code)
        found = [
            r
            for r in answer.json().get("resourceList") or []
            if str((r.get("resourceKey") or {}).get("name", "")).lower() == name.lower()
        ]
        if len(found) > 1 and moref:
            by_moref = [
                r
                for r in found
                if any(
                    (i.get("identifierType") or {}).get("name") == "VMEntityObjectID" and i.get("value") == moref
                    for i in (r.get("resourceKey") or {}).get("resourceIdentifiers") or []
                )
            ]
            found = by_moref or found
        return found

    def set_maintained(self, resource_id, maintained, minutes):
        path = "%s/resources/%s/maintained" % (API, requests.utils.quote(resource_id, safe=""))
        if maintained:
            answer = self.call("PUT", path, params={"duration": minutes} if minutes else None)
        else:
            answer = self.call("DELETE", path)
        if answer.status_code not in (200, 204):
            raise Refused("mark maintained" if maintained else "unmark maintained", answer.status_code)


class Function:
    def __init__(self, vrops, minutes):
        self.vrops = vrops
        self.minutes = minutes

    def handle(self, event, data):
        """-> (status, body, headers)"""
        op = EVENTS.get(event.get_subject())
        if op is None:
            return 200, {"status": "ignored", "reason": "not a maintenance mode event"}, []
        host = data.get("Host") or {}
        name = host.get("Name")
        moref = (host.get("Host") or {}).get("Value")
        if not name:
            return 400, {"status": "rejected", "reason": "the event names no host"}, []
        try:
            found = self.vrops.find_host(name, moref)
            if not found:
                log("warn", "no HostSystem of that name in vROps", id=event.get_id(), host=name)
                return 200, {"status": "not-found", "host": name}, []
            if len(found) > 1:
                log("error", "several HostSystems of that name in vROps; none changed", id=event.get_id(), host=name)
                return 200, {"status": "ambiguous", "host": name, "resources": [r.get("identifier") for r in found]}, []
            resource = found[0]["identifier"]
            self.vrops.set_maintained(resource, op == "mark", self.minutes)
        except Refused as e:
            log("error" if not e.retry else "warn", "vROps refused", id=event.get_id(), host=name, error=str(e))
            return (503 if e.retry else 502), {"status": "retry" if e.retry else "failed", "reason": str(e)}, []
        except (requests.RequestException, ValueError, KeyError) as e:
            # A request exception's text can name URLs and queries: log its kind only.
            log("warn", "vROps could not be reached", id=event.get_id(), host=name, error=type(e).__name__)
            return 503, {"status": "retry", "reason": type(e).__name__}, []
        status = "maintained" if op == "mark" else "unmaintained"
        log("info", "host %s in vROps" % status, id=event.get_id(), host=name, resource=resource)
        return 200, {"status": status, "host": name, "resource": resource}, []


# --- the CloudEvents HTTP server (the same in every example function) ----------------------

_log_lock = threading.Lock()


def log(level, msg, **fields):
    """One JSON line on stderr."""
    line = json.dumps(dict({"level": level, "msg": msg}, **fields), default=str)
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def secret(name):
    """An environment variable, or the content of the file named by NAME_FILE."""
    value = os.environ.get(name)
    path = os.environ.get(name + "_FILE")
    if not value and path:
        with open(path, encoding="utf-8") as f:
            value = f.read().strip()
    return value or None


def parse_event(headers, body):
    """The CloudEvent (binary or structured mode, as the Content-Type says) and its JSON data."""
    headers = {k.lower(): v for k, v in headers.items()}
    message = ce_http.HTTPMessage(headers=headers, body=body)
    if headers.get("content-type", "").lower().startswith("application/cloudevents"):
        event = ce_http.from_structured_event(message)
    else:
        event = ce_http.from_binary_event(message)
    data = event.get_data()
    if isinstance(data, (bytes, bytearray, str)):
        data = json.loads(data)
    if not isinstance(data, dict):
        raise ValueError("the event's data is not a JSON object")
    return event, data


def serve(function):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # no access log
            pass

        def _reply(self, status, body, headers=()):
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self):  # noqa: N802  (readiness and liveness probes)
            self._reply(200, {"status": "ok"})

        def _body(self):
            if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()

        def do_POST(self):  # noqa: N802
            body = self._body()
            try:
                event, data = parse_event(dict(self.headers.items()), body)
            except Exception as e:  # not a CloudEvent with JSON data: retrying will not help
                log("warn", "not a CloudEvent with JSON data", error="%s: %s" % (type(e).__name__, e))
                return self._reply(400, {"status": "rejected", "reason": str(e)})
            try:
                status, answer, headers = function.handle(event, data)
            except Exception as e:  # a bug or a surprise: answer 500 so the event is retried
                log("error", "the function failed", id=event.get_id(), error=type(e).__name__)
                status, answer, headers = 500, {"status": "failed", "reason": type(e).__name__}, []
            self._reply(status, answer, headers)

    server = ThreadingHTTPServer((os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8080"))), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("LISTENING %d" % server.server_address[1], flush=True)
    server.serve_forever()
    server.server_close()


def main():
    missing = [n for n in ("VROPS_URL", "VROPS_USERNAME") if not os.environ.get(n)]
    password = secret("VROPS_PASSWORD")
    if not password:
        missing.append("VROPS_PASSWORD (or VROPS_PASSWORD_FILE)")
    if missing:
        sys.exit("vrops-maintenance: set %s" % ", ".join(missing))
    if os.environ.get("VROPS_INSECURE", "").lower() in ("1", "true", "yes"):
        verify = False
        import urllib3

        urllib3.disable_warnings()
    else:
        verify = os.environ.get("VROPS_CA_FILE") or True
    minutes = os.environ.get("VROPS_MAINTENANCE_MINUTES")
    vrops = VROps(
        os.environ["VROPS_URL"],
        os.environ["VROPS_USERNAME"],
        password,
        os.environ.get("VROPS_AUTH_SOURCE"),
        verify,
        float(os.environ.get("HTTP_TIMEOUT_SECONDS", "10")),
        os.environ.get("VROPS_TOKEN_SCHEME", "vRealizeOpsToken"),
    )
    log("info", "vrops-maintenance starting", vrops=os.environ["VROPS_URL"], minutes=minutes)
    serve(Function(vrops, int(minutes) if minutes else None))


if __name__ == "__main__":
    main()
