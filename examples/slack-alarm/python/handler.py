#!/usr/bin/env python3
"""slack-alarm (Python): posts a Slack message when a vCenter alarm turns red (or another
state you choose). The Rust function in ../src/main.rs does exactly the same; this one is for
teams that write their functions in Python.

A CloudEvents HTTP function: the Knative Trigger (or the router's knative processor) POSTs
each AlarmStatusChangedEvent here, in binary or structured mode. The answer is 2xx only when
the event is done with (posted, or deliberately ignored) and 503 when Slack could not take the
message (rate limited, down, unreachable), so the broker sends the event again.

Configuration (environment):

  SLACK_WEBHOOK_URL        the incoming-webhook URL (a secret: from a Kubernetes Secret), or
  SLACK_WEBHOOK_URL_FILE   a file holding it (a mounted Secret)
  ALARM_STATES             comma-separated states that post a message (default: red)
  HTTP_TIMEOUT_SECONDS     per Slack request (default: 10)
  PORT, HOST               where to listen (default: 8080 on 0.0.0.0; PORT=0 picks a free port)

Prints ``LISTENING <port>`` on stdout once it listens; logs are JSON lines on stderr. The
webhook URL is never logged (nor is any error text that could carry it).
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from cloudevents.core.bindings import http as ce_http


# --- the function ------------------------------------------------------------------------

EMOJI = {"red": ":red_circle:", "yellow": ":large_yellow_circle:", "green": ":large_green_circle:", "gray": ":white_circle:"}
OPERATORS = {"isAbove": "above", "isBelow": "below", "isEqual": "equal to", "isUnequal": "not equal to"}


def mrkdwn(text):
    """Escapes the three characters Slack's mrkdwn treats as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def describe_expression(expr):
    """A one-line summary of an AlarmInfo.Expression (govmomi's JSON field names), or None.

    Or/And expressions hold a list in ``Expression``; a MetricAlarmExpression has ``Metric``
    with Yellow/Red thresholds (0 means not set); a StateAlarmExpression a ``StatePath``; an
    EventAlarmExpression an ``EventType``/``EventTypeId`` and the ``Status`` it sets.
    """
    if not isinstance(expr, dict):
        return None
    kind = str(expr.get("_typeName", ""))
    if isinstance(expr.get("Expression"), list):
        parts = [p for p in (describe_expression(e) for e in expr["Expression"]) if p]
        return (" and " if kind.startswith("And") else " or ").join(parts) or None
    operator = OPERATORS.get(expr.get("Operator"), expr.get("Operator") or "")
    levels = ", ".join("%s %s" % (c, expr[k]) for c, k in (("yellow", "Yellow"), ("red", "Red")) if expr.get(k) not in (None, 0, ""))
    if isinstance(expr.get("Metric"), dict):
        metric = expr["Metric"]
        counter = "counter %s" % (metric.get("CounterId") if metric.get("CounterId") is not None else "?")
        if metric.get("Instance"):
            counter += " [%s]" % metric["Instance"]
        return " ".join(p for p in ("%s metric %s" % (expr.get("Type", ""), counter), operator, levels) if p).strip()
    if expr.get("StatePath"):
        return " ".join(p for p in ("%s.%s" % (expr.get("Type", ""), expr["StatePath"]), operator, levels) if p)
    event_type = expr.get("EventTypeId") or expr.get("EventType")
    if event_type:
        status = " sets %s" % expr["Status"] if expr.get("Status") else ""
        return "event %s%s" % (event_type, status)
    return None


def slack_message(event_id, source, data):
    """The Slack webhook payload for an AlarmStatusChangedEvent's data."""
    alarm = (data.get("Alarm") or {}).get("Name") or "?"
    entity_arg = data.get("Entity") or {}
    entity = entity_arg.get("Name") or "?"
    entity_type = (entity_arg.get("Entity") or {}).get("Type")
    old, new = str(data.get("From") or "?"), str(data.get("To") or "?")
    info = data.get("AlarmInfo") if isinstance(data.get("AlarmInfo"), dict) else {}
    threshold = describe_expression(info.get("Expression"))
    emoji = EMOJI.get(new.lower(), ":bell:")

    text = "%s Alarm '%s' on %s: %s -> %s" % (emoji, alarm, entity, old, new)
    if threshold:
        text += " (threshold: %s)" % threshold
    fields = [{"type": "mrkdwn", "text": "*Entity*\n%s%s" % (mrkdwn(entity), " (%s)" % entity_type if entity_type else "")}]
    if threshold:
        fields.append({"type": "mrkdwn", "text": "*Threshold*\n%s" % mrkdwn(threshold)})
    if info.get("Description"):
        fields.append({"type": "mrkdwn", "text": "*Description*\n%s" % mrkdwn(info["Description"])})
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "%s *Alarm '%s'* on *%s*: %s -> *%s*" % (emoji, mrkdwn(alarm), mrkdwn(entity), mrkdwn(old), mrkdwn(new))},
        },
        {"type": "section", "fields": fields},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": mrkdwn("%s, event %s, %s" % (source, event_id, data.get("CreatedTime", "")))}],
        },
    ]
    return {"text": text, "blocks": blocks}


class Function:
    def __init__(self, webhook_url, states, timeout):
        self.webhook_url = webhook_url
        self.states = states
        self.timeout = timeout
        self.http = requests.Session()

    def handle(self, event, data):
        """-> (status, body, headers)"""
        subject = event.get_subject()
        if subject != "AlarmStatusChangedEvent":
            return 200, {"status": "ignored", "reason": "not an AlarmStatusChangedEvent"}, []
        to = str(data.get("To") or "").lower()
        if to not in self.states:
            log("info", "alarm state not selected", id=event.get_id(), to=to)
            return 200, {"status": "ignored", "reason": "state %s is not in ALARM_STATES" % to}, []
        message = slack_message(event.get_id(), event.get_source(), data)
        try:
            answer = self.http.post(self.webhook_url, json=message, timeout=self.timeout)
        except requests.RequestException as e:
            # The exception's text names the URL: log its kind only.
            log("warn", "Slack could not be reached; the event will be retried", id=event.get_id(), error=type(e).__name__)
            return 503, {"status": "retry", "reason": "Slack unreachable"}, []
        if answer.status_code == 200:
            log("info", "posted to Slack", id=event.get_id(), alarm=(data.get("Alarm") or {}).get("Name"), to=to)
            return 200, {"status": "posted"}, []
        reason = answer.text[:200]
        if answer.status_code == 429 or answer.status_code >= 500:
            retry_after = answer.headers.get("Retry-After")
            log("warn", "Slack refused the message for now; the event will be retried", id=event.get_id(), slack_status=answer.status_code, slack_error=reason, retry_after=retry_after)
            return 503, {"status": "retry", "reason": "Slack answered %d" % answer.status_code}, [("Retry-After", retry_after)] if retry_after else []
        log("error", "Slack rejected the message", id=event.get_id(), slack_status=answer.status_code, slack_error=reason)
        return 502, {"status": "failed", "reason": "Slack answered %d %s" % (answer.status_code, reason)}, []


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
    webhook = secret("SLACK_WEBHOOK_URL")
    if not webhook:
        sys.exit("slack-alarm: set SLACK_WEBHOOK_URL or SLACK_WEBHOOK_URL_FILE (the Slack incoming-webhook URL)")
    states = {s.strip().lower() for s in os.environ.get("ALARM_STATES", "red").split(",") if s.strip()}
    timeout = float(os.environ.get("HTTP_TIMEOUT_SECONDS", "10"))
    log("info", "slack-alarm starting", states=sorted(states))
    serve(Function(webhook, states, timeout))


if __name__ == "__main__":
    main()
