#!/usr/bin/env python3
"""zone-drift: warns in Slack when DRS, HA or an operator moves a Kubernetes node VM to a host of
another zone.

Kubernetes on vSphere takes a node's topology zone from vSphere tags of one category (here
``k8s-zone``) on hosts and VMs. When a VmMigratedEvent (vMotion), DrsVmMigratedEvent (DRS) or
VmRestartedOnAlternateHostEvent (HA restarted the VM on another host) arrives, this
function reads, through vCenter's REST tagging API, the zone tags of the VM and of its
destination host; when the VM has a zone and the host is not in it, it posts a Slack message
naming the VM, both hosts and both zones. It stays silent when they match or when the VM has no
zone tag (not a zoned node).

vCenter calls (the /rest API of vSphere 6.5 to 8, which vcsim serves too):

  POST   /rest/com/vmware/cis/session                       (basic auth) -> session id
  POST   /rest/com/vmware/cis/tagging/tag-association?~action=list-attached-tags-on-objects
  GET    /rest/com/vmware/cis/tagging/tag/id:<tag>          name and category of a tag
  GET    /rest/com/vmware/cis/tagging/category/id:<category>
  (header vmware-api-session-id; a 401 logs in again)

Tag and category names are cached for TAG_CACHE_SECONDS. The answer is 2xx when the event is
done with (posted, or nothing to say), 503 when vCenter or Slack could not be reached or
answered 429/5xx (the broker sends the event again), 502 for a refusal retrying will not cure
(bad credentials), 400 for a request that is not a migration CloudEvent.

Configuration (environment):

  VCENTER_URL             https://vcenter.corp.local (required; a trailing /sdk is ignored)
  VCENTER_USERNAME        a user allowed to read tags (required)
  VCENTER_PASSWORD        the password (a secret), or VCENTER_PASSWORD_FILE (a mounted Secret)
  VCENTER_CA_FILE         CA bundle for vCenter's certificate; VCENTER_INSECURE=true skips the check
  ZONE_CATEGORY           the tag category of zones (default k8s-zone)
  SLACK_WEBHOOK_URL       the incoming-webhook URL (a secret), or SLACK_WEBHOOK_URL_FILE
  TAG_CACHE_SECONDS       how long tag and category names are kept (default 300)
  HTTP_TIMEOUT_SECONDS    per request (default 10)
  PORT, HOST              where to listen (default 8080 on 0.0.0.0; PORT=0 picks a free port)

Prints ``LISTENING <port>`` on stdout once it listens; logs are JSON lines on stderr. The
password, the session id and the webhook URL are never logged.
"""

import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from cloudevents.core.bindings import http as ce_http


# --- the function ------------------------------------------------------------------------

EVENTS = ("VmMigratedEvent", "DrsVmMigratedEvent", "VmRestartedOnAlternateHostEvent")
SESSION_HEADER = "vmware-api-session-id"


class Refused(Exception):
    """A peer answered an error; ``retry`` when trying again later may help."""

    def __init__(self, what, status):
        super().__init__("%s: HTTP %d" % (what, status))
        self.retry = status == 429 or status >= 500


class Tagging:
    """vCenter's REST tagging API, with one session kept across events."""

    def __init__(self, url, username, password, verify, timeout, cache_seconds):
        url = url.rstrip("/")
        self.base = (url[: -len("/sdk")] if url.endswith("/sdk") else url) + "/rest/com/vmware/cis"
        self.auth = (username, password)
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.http = requests.Session()
        # Per request, not Session.verify: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the
        # environment override a session's verify setting.
        self.verify = verify
        self.lock = threading.Lock()
        self.session = None
        self.cache = {}  # url -> (expires, value)

    def _login(self):
        answer = self.http.post(self.base + "/session", auth=self.auth, timeout=self.timeout, verify=self.verify)
        if answer.status_code != 200:
            raise Refused("vCenter login", answer.status_code)
        self.session = answer.json()["value"]
        log("info", "logged in to vCenter's REST API")

    def _call(self, method, path, **kwargs):
        for attempt in (1, 2):
            with self.lock:
                if self.session is None:
                    self._login()
                session = self.session
            answer = self.http.request(
                method,
                self.base + path,
                headers={SESSION_HEADER: session},
                timeout=self.timeout,
                verify=self.verify,
                **kwargs,
            )
            if answer.status_code == 401 and attempt == 1:
                with self.lock:
                    if self.session == session:
                        self.session = None
                continue
            if answer.status_code != 200:
                raise Refused("vCenter %s" % path.split("?")[0], answer.status_code)
            return answer.json().get("value")
        raise Refused("vCenter %s" % path.split("?")[0], 401)

    def _cached(self, path):
        now = time.monotonic()
        with self.lock:
            hit = self.cache.get(path)
        if hit and hit[0] > now:
            return hit[1]
        value = self._call("GET", path)
        with self.lock:
            self.cache[path] = (now + self.cache_seconds, value)
        return value

    def zones(self, objects, category):
        """{(type, id): {zone tag names}} for each (type, id) in ``objects``."""
        attached = self._call(
            "POST",
            "/tagging/tag-association?~action=list-attached-tags-on-objects",
            json={"object_ids": [{"type": t, "id": i} for t, i in objects]},
        )
        out = {o: set() for o in objects}
        for entry in attached or []:
            obj = entry.get("object_id") or {}
            key = (obj.get("type"), obj.get("id"))
            for tag_id in entry.get("tag_ids") or []:
                tag = self._cached("/tagging/tag/id:" + urllib.parse.quote(tag_id, safe=":"))
                cat = self._cached("/tagging/category/id:" + urllib.parse.quote(tag["category_id"], safe=":"))
                if cat.get("name") == category and key in out:
                    out[key].add(tag["name"])
        return out


def drift_message(kind, vm, vm_zones, source, target, host_zones, vcenter):
    zone = ", ".join(sorted(vm_zones))
    host_zone = ", ".join(sorted(host_zones)) or "no zone"
    how = {"DrsVmMigratedEvent": "DRS moved", "VmRestartedOnAlternateHostEvent": "HA restarted"}.get(kind, "Migrated")
    text = ":warning: Zone drift: %s node VM %s (zone %s) from %s to %s (zone %s)" % (how, vm, zone, source, target, host_zone)
    return {
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": ":warning: *Zone drift*: %s node VM *%s* out of its zone" % (mrkdwn(how), mrkdwn(vm)),
                },
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*VM zone*\n%s" % mrkdwn(zone)},
                    {"type": "mrkdwn", "text": "*Destination host*\n%s (zone %s)" % (mrkdwn(target), mrkdwn(host_zone))},
                    {"type": "mrkdwn", "text": "*Source host*\n%s" % mrkdwn(source)},
                ],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(vcenter)}]},
        ],
    }


def mrkdwn(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Function:
    def __init__(self, tagging, category, webhook_url, timeout):
        self.tagging = tagging
        self.category = category
        self.webhook_url = webhook_url
        self.timeout = timeout
        self.http = requests.Session()

    def handle(self, event, data):
        """-> (status, body, headers)"""
        kind = event.get_subject()
        if kind not in EVENTS:
            return 200, {"status": "ignored", "reason": "not a migration event"}, []
        vm_arg, host_arg = data.get("Vm") or {}, data.get("Host") or {}
        vm_id = (vm_arg.get("Vm") or {}).get("Value")
        host_id = (host_arg.get("Host") or {}).get("Value")
        if not vm_id or not host_id:
            return 400, {"status": "rejected", "reason": "the event names no VM or no destination host"}, []
        vm, target = vm_arg.get("Name") or vm_id, host_arg.get("Name") or host_id
        source = (data.get("SourceHost") or {}).get("Name") or "?"
        try:
            zones = self.tagging.zones([("VirtualMachine", vm_id), ("HostSystem", host_id)], self.category)
        except Refused as e:
            log("warn" if e.retry else "error", "vCenter refused", id=event.get_id(), error=str(e))
            return (503 if e.retry else 502), {"status": "retry" if e.retry else "failed", "reason": str(e)}, []
        except (requests.RequestException, ValueError, KeyError, TypeError) as e:
            log("warn", "vCenter could not be reached", id=event.get_id(), error=type(e).__name__)
            return 503, {"status": "retry", "reason": type(e).__name__}, []
        vm_zones, host_zones = zones[("VirtualMachine", vm_id)], zones[("HostSystem", host_id)]
        if not vm_zones:
            log("info", "the VM has no zone tag", id=event.get_id(), vm=vm)
            return 200, {"status": "untagged", "vm": vm}, []
        if vm_zones & host_zones:
            log("info", "the VM is in its zone", id=event.get_id(), vm=vm, zone=sorted(vm_zones), host=target)
            return 200, {"status": "in-zone", "vm": vm, "zone": sorted(vm_zones)}, []
        message = drift_message(kind, vm, vm_zones, source, target, host_zones, event.get_source())
        try:
            answer = self.http.post(self.webhook_url, json=message, timeout=self.timeout)
        except requests.RequestException as e:
            log("warn", "Slack could not be reached; the event will be retried", id=event.get_id(), error=type(e).__name__)
            return 503, {"status": "retry", "reason": "Slack unreachable"}, []
        if answer.status_code != 200:
            retry = answer.status_code == 429 or answer.status_code >= 500
            log("warn" if retry else "error", "Slack refused the message", id=event.get_id(), slack_status=answer.status_code, slack_error=answer.text[:200])
            return (503 if retry else 502), {"status": "retry" if retry else "failed", "reason": "Slack answered %d" % answer.status_code}, []
        log("info", "zone drift posted to Slack", id=event.get_id(), vm=vm, vm_zone=sorted(vm_zones), host=target, host_zone=sorted(host_zones))
        return 200, {"status": "posted", "vm": vm, "vm_zone": sorted(vm_zones), "host_zone": sorted(host_zones)}, []


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
    missing = [n for n in ("VCENTER_URL", "VCENTER_USERNAME") if not os.environ.get(n)]
    password = secret("VCENTER_PASSWORD")
    webhook = secret("SLACK_WEBHOOK_URL")
    if not password:
        missing.append("VCENTER_PASSWORD (or VCENTER_PASSWORD_FILE)")
    if not webhook:
        missing.append("SLACK_WEBHOOK_URL (or SLACK_WEBHOOK_URL_FILE)")
    if missing:
        sys.exit("zone-drift: set %s" % ", ".join(missing))
    if os.environ.get("VCENTER_INSECURE", "").lower() in ("1", "true", "yes"):
        verify = False
        import urllib3

        urllib3.disable_warnings()
    else:
        verify = os.environ.get("VCENTER_CA_FILE") or True
    timeout = float(os.environ.get("HTTP_TIMEOUT_SECONDS", "10"))
    category = os.environ.get("ZONE_CATEGORY", "k8s-zone")
    tagging = Tagging(
        os.environ["VCENTER_URL"],
        os.environ["VCENTER_USERNAME"],
        password,
        verify,
        timeout,
        float(os.environ.get("TAG_CACHE_SECONDS", "300")),
    )
    log("info", "zone-drift starting", vcenter=os.environ["VCENTER_URL"], category=category)
    serve(Function(tagging, category, webhook, timeout))


if __name__ == "__main__":
    main()
