#!/usr/bin/env python3
"""A fake Horizon Connection Server for the end-to-end tests, following the Horizon Server
REST API: POST /rest/login {domain, username, password} -> {access_token, refresh_token};
POST /rest/refresh {refresh_token} -> {access_token} (400 when the refresh token is no
longer valid); POST /rest/logout; GET /rest/external/v1/audit-events with a bearer token
(401 without a valid one), query ``filter`` (JSON, type "Between" on name "time" with
fromValue/toValue, inclusive), ``page`` (from 1) and ``size``; events newest first.

    fake_horizon.py --port 0 --domain corp --user svc --password secret

stdout: ``LISTENING <port>`` and then one JSON line per REST call:
    {"call": "login"|"refresh"|"logout"|"audit-events", "status": N, "query": {...}}

Test controls (no auth; not part of Horizon):

    POST /_control/events  body: a list of audit events to add ({id, time, type, ...}), or
                           {"count": N, "first_id": I, "first_time": T, "type": K, "pad": P}:
                           N events with ids and times counting up from I and T (messages of P
                           more bytes)
    POST /_control/expire  body: {"access": true, "refresh": true}: revoke current tokens
    POST /_control/mode    body: {"redirect_login": URL}: login answers 307 to URL;
                           {"huge_page_bytes": N}: audit-events answers N bytes of one JSON
                           array (a hostile or broken server); {"tiny_items": N}:
                           audit-events answers a JSON array of N zeros; {}: back to normal

    POST /stolen           what a redirect target records: a ``STOLEN <body>`` line
"""

import argparse
import json
import sys
import threading
import urllib.parse
from peer_http import PeerHandler, emit, serve

lock = threading.Lock()
state = {"events": [], "access": set(), "refresh": set(), "n": 0, "mode": {}}


class Handler(PeerHandler):

    def _tokens(self):
        with lock:
            state["n"] += 1
            access, refresh = f"access-{state['n']}", f"refresh-{state['n']}"
            state["access"].add(access)
            state["refresh"].add(refresh)
        return access, refresh

    def do_POST(self):
        body = self.read_json() or {}
        srv = self.server
        if self.path == "/stolen":
            emit("STOLEN " + json.dumps(body))
            return self.reply(200, {})
        with lock:
            mode = dict(state["mode"])
        if self.path == "/rest/login" and mode.get("redirect_login"):
            emit({"call": "login", "status": 307})
            return self.reply(307, {}, headers=[("Location", mode["redirect_login"])])
        if self.path == "/rest/login":
            ok = (body.get("domain"), body.get("username"), body.get("password")) == (srv.domain, srv.user, srv.password)
            if not ok:
                emit({"call": "login", "status": 400})
                return self.reply(400, {"error_message": "Invalid user credentials"})
            access, refresh = self._tokens()
            emit({"call": "login", "status": 200})
            return self.reply(200, {"access_token": access, "refresh_token": refresh})
        if self.path == "/rest/refresh":
            with lock:
                valid = body.get("refresh_token") in state["refresh"]
            if not valid:
                emit({"call": "refresh", "status": 400})
                return self.reply(400, {"error_message": "Invalid refresh token"})
            access, _ = self._tokens()
            emit({"call": "refresh", "status": 200})
            return self.reply(200, {"access_token": access})
        if self.path == "/rest/logout":
            with lock:
                state["refresh"].discard(body.get("refresh_token"))
            emit({"call": "logout", "status": 200})
            return self.reply(200, {})
        if self.path == "/_control/events":
            if isinstance(body, dict):
                body = [{"id": body["first_id"] + i, "time": body["first_time"] + i, "type": body["type"],
                         "module": "Vlsi", "message": "event %d" % (body["first_id"] + i) + "x" * body.get("pad", 0)}
                        for i in range(body["count"])]
            with lock:
                state["events"].extend(body)
            return self.reply(200, {})
        if self.path == "/_control/mode":
            with lock:
                state["mode"] = body
            return self.reply(200, {})
        if self.path == "/_control/expire":
            with lock:
                if body.get("access"):
                    state["access"].clear()
                if body.get("refresh"):
                    state["refresh"].clear()
            return self.reply(200, {})
        self.reply(404, {"error": "not found"})

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/rest/external/v1/audit-events":
            return self.reply(404, {"error": "not found"})
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with lock:
            valid = token in state["access"]
            events = list(state["events"])
        if not valid:
            emit({"call": "audit-events", "status": 401, "query": query})
            return self.reply(401, {"error_message": "Unauthorized"})
        with lock:
            huge = state["mode"].get("huge_page_bytes")
        if huge:
            return self._huge(huge)
        with lock:
            tiny = state["mode"].get("tiny_items")
        if tiny:
            emit({"call": "audit-events", "status": 200, "tiny_items": tiny})
            body = b"[" + b",".join([b"0"] * tiny) + b"]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if "filter" in query:
            f = json.loads(query["filter"])
            assert f["type"] == "Between" and f["name"] == "time", f
            events = [e for e in events if f["fromValue"] <= e["time"] <= f["toValue"]]
        events.sort(key=lambda e: (e["time"], e["id"]), reverse=True)
        page, size = int(query.get("page", 1)), int(query.get("size", 10))
        chunk = events[(page - 1) * size: page * size]
        emit({"call": "audit-events", "status": 200, "query": query, "returned": len(chunk)})
        self.reply(200, chunk)

    def _huge(self, size):
        """One JSON array of ``size`` bytes, written in pieces; the client may hang up early."""
        emit({"call": "audit-events", "status": 200, "huge": size})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        head = b'[{"id": 1, "time": 1, "type": "X", "message": "'
        tail = b'"}]'
        piece = b"x" * 65536
        try:
            self.wfile.write(head)
            left = size - len(head) - len(tail)
            while left > 0:
                self.wfile.write(piece[:min(left, len(piece))])
                left -= len(piece)
            self.wfile.write(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--domain", default="corp")
    p.add_argument("--user", default="svc")
    p.add_argument("--password", default="secret")
    args = p.parse_args()
    serve(Handler, args.port, domain=args.domain, user=args.user, password=args.password)
    return 0


if __name__ == "__main__":
    sys.exit(main())
