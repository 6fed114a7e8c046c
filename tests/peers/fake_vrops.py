#!/usr/bin/env python3
"""A fake vRealize Operations (Aria Operations) suite-api for the examples' end-to-end tests,
following the documented endpoints the vrops-maintenance function uses
(https://developer.broadcom.com/xapis/vmware-vrealize-operations-api/latest/):

* ``POST /suite-api/api/auth/token/acquire`` with a JSON body ``{"username", "password",
  "authSource"?}``: ``200`` and an auth-token ``{"token", "validity" (epoch ms), "expiresAt",
  "roles"}``; wrong credentials ``401``.
* Every other call needs ``Authorization: vRealizeOpsToken <token>`` (``OpsToken <token>`` is
  accepted too, as Aria Operations 8.x does); a missing, unknown or expired token is ``401``.
  JSON answers need ``Accept: application/json`` (vROps answers XML otherwise; this fake
  answers ``406``).
* ``GET /suite-api/api/resources?resourceKind=&adapterKind=&name=``: the resources whose kind and
  adapter kind equal the given ones and whose name contains ``name`` (case-insensitive, so the
  caller must pick the exact name), as ``{"pageInfo", "links", "resourceList": [{"identifier",
  "resourceKey": {"name", "adapterKindKey", "resourceKindKey", "resourceIdentifiers": [...]}}]}``.
* ``PUT /suite-api/api/resources/{id}/maintained[?duration=minutes|end=epoch-ms]``: ``200``;
  the resource is ``MAINTAINED`` (with a duration or end) or ``MAINTAINED_MANUAL``.
* ``DELETE /suite-api/api/resources/{id}/maintained``: ``200``; the resource is ``STARTED``.
  An unknown id is ``404`` for both.

    fake_vrops.py --port 0 --user admin --password SECRET

stdout (one JSON line each, flushed; the password is never printed):

    LISTENING <port>
    {"op": "acquire", "status": 200|401, "authSource": ...}
    {"op": "find", "status": ..., "query": {...}, "found": [ids]}
    {"op": "mark"|"unmark", "status": ..., "id": ..., "query": {...}}
    {"op": "refused", "status": 401|406, "path": ...}

Test controls (not part of vROps):

    PUT /_control/resources  body: [{"id", "name", "moref", "kind"?}]: the inventory (kind
                             defaults to HostSystem, adapter kind VMWARE)
    PUT /_control/expire     every token issued so far expires now
    PUT /_control/fail       body: {"status": 503, "count": n}: the next n API calls (not the
                             token acquire) get that status
    GET /_control/state      {"<id>": "STARTED"|"MAINTAINED"|"MAINTAINED_MANUAL"}
"""

import argparse
import json
import threading
import time
import urllib.parse
import uuid

from peer_http import PeerHandler, emit, serve

API = "/suite-api/api"
lock = threading.Lock()
state = {"tokens": set(), "resources": [], "maintenance": {}, "fail": None}


def resource_json(r):
    ident = lambda name, value: {  # noqa: E731
        "identifierType": {"name": name, "dataType": "STRING", "isPartOfUniqueness": True},
        "value": value,
    }
    return {
        "identifier": r["id"],
        "resourceKey": {
            "name": r["name"],
            "adapterKindKey": r.get("adapter", "VMWARE"),
            "resourceKindKey": r.get("kind", "HostSystem"),
            "resourceIdentifiers": [ident("VMEntityObjectID", r.get("moref", "")), ident("VMEntityVCID", "vc-e2e")],
        },
        "resourceStatusStates": [],
        "resourceHealth": "GREEN",
        "dtEnabled": True,
    }


class Handler(PeerHandler):
    def _query(self):
        parsed = urllib.parse.urlsplit(self.path)
        return parsed.path, {k: v[0] if len(v) == 1 else v for k, v in urllib.parse.parse_qs(parsed.query).items()}

    def _authorized(self, path):
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        with lock:
            ok = scheme in ("vRealizeOpsToken", "OpsToken") and token in state["tokens"]
        if not ok:
            emit({"op": "refused", "status": 401, "path": path})
            self.reply(401, {"message": "Authentication required", "httpStatusCode": 401, "apiErrorCode": 1512})
        return ok

    def _failing(self):
        with lock:
            fail = state["fail"]
            if fail and fail.get("count", 0) > 0:
                fail["count"] -= 1
                return int(fail.get("status", 503))
        return None

    def do_PUT(self):  # noqa: N802
        path, query = self._query()
        if path.startswith("/_control/"):
            body = self.read_json()
            with lock:
                if path == "/_control/resources":
                    state["resources"] = body
                    state["maintenance"] = {r["id"]: "STARTED" for r in body}
                elif path == "/_control/expire":
                    state["tokens"].clear()
                elif path == "/_control/fail":
                    state["fail"] = dict(body)
                else:
                    return self.reply(404, b"not found", "text/plain")
            return self.reply(200, {})
        self._maintained(path, query, "mark")

    def do_DELETE(self):  # noqa: N802
        path, query = self._query()
        self._maintained(path, query, "unmark")

    def _maintained(self, path, query, op):
        self.read_body()
        parts = path.split("/")
        if not (path.startswith(API + "/resources/") and len(parts) == 6 and parts[5] == "maintained"):
            return self.reply(404, b"not found", "text/plain")
        if not self._authorized(path):
            return
        rid = parts[4]
        failing = self._failing()
        if failing:
            emit({"op": op, "status": failing, "id": rid, "query": query})
            return self.reply(failing, {"message": "Service unavailable"})
        with lock:
            known = rid in state["maintenance"]
            if known:
                if op == "unmark":
                    state["maintenance"][rid] = "STARTED"
                else:
                    state["maintenance"][rid] = "MAINTAINED" if ("duration" in query or "end" in query) else "MAINTAINED_MANUAL"
        status = 200 if known else 404
        emit({"op": op, "status": status, "id": rid, "query": query})
        self.reply(status, b"" if known else json.dumps({"message": "No such resource"}).encode(), "application/json")

    def do_GET(self):  # noqa: N802
        path, query = self._query()
        if path == "/_control/state":
            with lock:
                return self.reply(200, dict(state["maintenance"]))
        if path != API + "/resources":
            return self.reply(404, b"not found", "text/plain")
        if not self._authorized(path):
            return
        if "application/json" not in self.headers.get("Accept", ""):
            emit({"op": "refused", "status": 406, "path": path})
            return self.reply(406, b"<ops:error>Accept: application/json expected by this fake</ops:error>", "application/xml")
        failing = self._failing()
        if failing:
            emit({"op": "find", "status": failing, "query": query, "found": []})
            return self.reply(failing, {"message": "Service unavailable"})
        name = str(query.get("name", "")).lower()
        with lock:
            found = [
                r
                for r in state["resources"]
                if name in r["name"].lower()
                and r.get("kind", "HostSystem") == query.get("resourceKind", r.get("kind", "HostSystem"))
                and r.get("adapter", "VMWARE") == query.get("adapterKind", r.get("adapter", "VMWARE"))
            ]
        emit({"op": "find", "status": 200, "query": query, "found": [r["id"] for r in found]})
        self.reply(
            200,
            {
                "pageInfo": {"totalCount": len(found), "page": 0, "pageSize": 1000},
                "links": [],
                "resourceList": [resource_json(r) for r in found],
            },
        )

    def do_POST(self):  # noqa: N802
        path, _ = self._query()
        body = self.read_json()
        if path != API + "/auth/token/acquire":
            return self.reply(404, b"not found", "text/plain")
        ok = (
            isinstance(body, dict)
            and body.get("username") == self.server.user
            and body.get("password") == self.server.password
        )
        auth_source = body.get("authSource") if isinstance(body, dict) else None
        if not ok:
            emit({"op": "acquire", "status": 401, "authSource": auth_source})
            return self.reply(401, {"message": "Invalid credentials", "httpStatusCode": 401})
        token = "%s::%s" % (uuid.uuid4(), uuid.uuid4())
        validity = int((time.time() + 1800) * 1000)
        with lock:
            state["tokens"].add(token)
        emit({"op": "acquire", "status": 200, "authSource": auth_source})
        self.reply(
            200,
            {
                "token": token,
                "validity": validity,
                "expiresAt": time.strftime("%A, %B %d, %Y at %I:%M:%S %p %Z", time.gmtime(validity / 1000)),
                "roles": [],
            },
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    args = p.parse_args()
    serve(Handler, args.port, user=args.user, password=args.password)


if __name__ == "__main__":
    main()
