#!/usr/bin/env python3
"""A fake Slack incoming webhook for the examples' end-to-end tests, following Slack's
documented webhook API (https://api.slack.com/messaging/webhooks): POST a JSON payload to the
webhook URL (https://hooks.slack.com/services/T.../B.../XXXX); the payload is a message with a
``text`` (plain text, mrkdwn by default) and/or Block Kit ``blocks`` (then ``text`` is the
notification fallback). Slack answers ``200`` with the body ``ok``; ``400 invalid_payload``
for a body that is not a JSON message, ``400 no_text`` for a message with neither text nor
blocks, ``404 no_service`` for an unknown webhook, and ``429`` with a ``Retry-After`` header
(seconds) when the sender is rate limited (about one message a second per webhook).

    fake_slack.py --port 0

stdout (one JSON line each, flushed):

    LISTENING <port>
    {"path": ..., "status": 200, "error": null|"invalid_payload"|..., "content_type": ...,
     "payload": <the JSON body, or null>}

Every POST under /services/ is accepted as a webhook (the test chooses the URL, secret part
included); other paths answer 404 no_service.

Test controls (not part of Slack):

    PUT /_control/fail   body: {"status": 429|500|503, "count": n, "retry_after": s}: the next
                         n webhook POSTs get that status (429 with Retry-After: s)
"""

import argparse
import json
import threading

from peer_http import PeerHandler, emit, serve

lock = threading.Lock()
state = {"fail": None}


def check_message(payload):
    """Slack's own checks on a webhook message: the error code, or None when it is valid."""
    if not isinstance(payload, dict):
        return "invalid_payload"
    text = payload.get("text")
    blocks = payload.get("blocks")
    if text is not None and not isinstance(text, str):
        return "invalid_payload"
    if blocks is not None:
        if not isinstance(blocks, list) or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
            return "invalid_blocks"
    if not (text or blocks):
        return "no_text"
    return None


class Handler(PeerHandler):
    def do_PUT(self):  # noqa: N802
        body = self.read_json()
        if self.path == "/_control/fail" and isinstance(body, dict):
            with lock:
                state["fail"] = dict(body)
            return self.reply(200, b"{}", "application/json")
        self.reply(404, b"not found", "text/plain")

    def do_POST(self):  # noqa: N802
        raw = self.read_body()
        content_type = self.headers.get("Content-Type", "")
        record = {"path": self.path, "content_type": content_type, "payload": None, "error": None}
        if not self.path.startswith("/services/"):
            record.update(status=404, error="no_service")
            emit(record)
            return self.reply(404, b"no_service", "text/plain")
        with lock:
            fail = state["fail"]
            if fail and fail.get("count", 0) > 0:
                fail["count"] -= 1
            else:
                fail = None
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        record["payload"] = payload
        if fail is not None:
            status = int(fail.get("status", 503))
            record.update(status=status, error="rate_limited" if status == 429 else "internal_error")
            emit(record)
            headers = [("Retry-After", str(fail.get("retry_after", 1)))] if status == 429 else []
            return self.reply(status, record["error"].encode(), "text/plain", headers)
        error = None if content_type.split(";")[0].strip().lower() == "application/json" else "invalid_payload"
        error = error or check_message(payload)
        status = 400 if error else 200
        record.update(status=status, error=error)
        emit(record)
        self.reply(status, (error or "ok").encode(), "text/plain")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    serve(Handler, args.port)


if __name__ == "__main__":
    main()
