#!/usr/bin/env python3
"""A fake VMware Cloud on AWS API (and its Cloud Services Platform token exchange) for the
eventbridge-bursting example's handler, following the documented calls it makes
(https://developer.broadcom.com/xapis/vmware-cloud-on-aws-api/latest/):

* ``POST /csp/gateway/am/api/auth/api-tokens/authorize`` with the form body
  ``refresh_token=<API token>``: ``200 {"access_token", "token_type": "bearer", "expires_in"}``;
  an unknown API token ``400 {"error": "invalid_grant"}``.
* ``GET /vmc/api/orgs/{org}/sddcs`` (header ``csp-auth-token: <access token>``): the org's
  SDDCs ``[{"id", "name", "sddc_state", "provider", "region", ...}]``, deleted ones left out.
* ``POST /vmc/api/orgs/{org}/sddcs`` with an AwsSddcConfig (``name``, ``num_hosts``,
  ``provider``, ``region`` required): ``202`` and a Task ``{"id", "status": "STARTED",
  "task_type": "SDDC-PROVISION", "resource_id", "resource_type": "sddc"}``; the SDDC is listed
  as ``DEPLOYING`` from then on.
  A missing or unknown access token is ``401``; another org ``403``.

    fake_vmc.py --port 0 --org ORG --refresh-token TOKEN

stdout (one JSON line each; tokens are never printed):

    LISTENING <port>
    {"op": "authorize"|"list"|"create", "status": ..., "config": <create's body>}
"""

import argparse
import threading
import urllib.parse
import uuid

from peer_http import PeerHandler, emit, serve

lock = threading.Lock()
state = {"access": set(), "sddcs": []}


class Handler(PeerHandler):
    def _org_path(self):
        parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
        # vmc / api / orgs / {org} / sddcs
        if len(parts) == 5 and parts[:3] == ["vmc", "api", "orgs"] and parts[4] == "sddcs":
            return parts[3]
        return None

    def _authorized(self, op):
        with lock:
            ok = self.headers.get("csp-auth-token", "") in state["access"]
        if not ok:
            emit({"op": op, "status": 401})
            self.reply(401, {"error_code": "unauthorized", "error_messages": ["Authentication required"]})
        return ok

    def do_GET(self):  # noqa: N802
        org = self._org_path()
        if org is None:
            return self.reply(404, b"not found", "text/plain")
        if not self._authorized("list"):
            return
        if org != self.server.org:
            emit({"op": "list", "status": 403})
            return self.reply(403, {"error_messages": ["Forbidden"]})
        with lock:
            listed = [s for s in state["sddcs"] if s["sddc_state"] != "DELETED"]
        emit({"op": "list", "status": 200, "names": [s["name"] for s in listed]})
        self.reply(200, listed)

    def do_POST(self):  # noqa: N802
        path = urllib.parse.urlsplit(self.path).path
        if path == "/csp/gateway/am/api/auth/api-tokens/authorize":
            form = urllib.parse.parse_qs(self.read_body().decode("utf-8", "replace"))
            if form.get("refresh_token", [""])[0] != self.server.refresh_token:
                emit({"op": "authorize", "status": 400})
                return self.reply(400, {"error": "invalid_grant", "message": "invalid refresh token"})
            access = str(uuid.uuid4())
            with lock:
                state["access"].add(access)
            emit({"op": "authorize", "status": 200})
            return self.reply(200, {"access_token": access, "token_type": "bearer", "expires_in": 1799})
        org = self._org_path()
        body = self.read_json()
        if org is None:
            return self.reply(404, b"not found", "text/plain")
        if not self._authorized("create"):
            return
        if org != self.server.org:
            emit({"op": "create", "status": 403})
            return self.reply(403, {"error_messages": ["Forbidden"]})
        missing = [k for k in ("name", "num_hosts", "provider", "region") if not isinstance(body, dict) or body.get(k) in (None, "")]
        if missing:
            emit({"op": "create", "status": 400, "config": body})
            return self.reply(400, {"error_code": "invalid_request", "error_messages": ["missing %s" % ", ".join(missing)]})
        sddc = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "sddc_state": "DEPLOYING",
            "provider": body["provider"],
            "region": body["region"],
            "num_hosts": body["num_hosts"],
        }
        with lock:
            state["sddcs"].append(sddc)
        emit({"op": "create", "status": 202, "config": body})
        self.reply(
            202,
            {
                "id": str(uuid.uuid4()),
                "status": "STARTED",
                "task_type": "SDDC-PROVISION",
                "resource_id": sddc["id"],
                "resource_type": "sddc",
                "org_id": org,
            },
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--org", required=True)
    p.add_argument("--refresh-token", required=True)
    args = p.parse_args()
    serve(Handler, args.port, org=args.org, refresh_token=args.refresh_token)


if __name__ == "__main__":
    main()
