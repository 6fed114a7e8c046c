#!/usr/bin/env python3
"""A hostile vCenter for the end-to-end tests: plain HTTP on 127.0.0.1, SOAP at /sdk.

    hostile_vcenter.py --mode MODE

stdout protocol (one line each, flushed):

    LISTENING <port>
    REQUEST <method name>            # every SOAP call, by its body's first element
    STOLEN <path>                    # (redirect mode) a request reached the other origin

Modes:
* ``hang``: reads each request and never answers (a vCenter that accepted the TCP connection
  and stalls: the router must still honour SIGTERM during its set-up calls).
* ``wide``: answers RetrieveServiceContent with a 63 MiB SOAP body of empty elements
  (``<a/>`` repeated), which an XML tree would hold in gigabytes.
* ``redirect``: answers RetrieveServiceContent normally, and Login with ``307 Temporary
  Redirect`` to a second listener on another port (another origin), which reports any request
  that reaches it (a client that follows 307 re-sends the POST body: the password).
* ``fault``: answers RetrieveServiceContent normally, and Login with a SystemError SOAP fault
  whose faultstring holds a newline and a forged log line.
"""

import argparse
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from peer_http import PeerHandler, emit, serve

ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{}</soapenv:Body></soapenv:Envelope>'
)

SERVICE_CONTENT = ENVELOPE.format(
    '<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval>'
    '<rootFolder type="Folder">group-d1</rootFolder>'
    '<propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>'
    "<about><fullName>Hostile vCenter</fullName><apiVersion>8.0.2.0</apiVersion></about>"
    '<sessionManager type="SessionManager">SessionManager</sessionManager>'
    '<eventManager type="EventManager">EventManager</eventManager>'
    "</returnval></RetrieveServiceContentResponse>"
)

FORGED = "2026-12-01T00:00:00.000000Z  INFO event_router: forged line"

FAULT = ENVELOPE.format(
    "<soapenv:Fault><faultcode>ServerFaultCode</faultcode>"
    "<faultstring>A general system error occurred: session store unavailable.\n" + FORGED + "</faultstring>"
    '<detail><SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError"><reason>x</reason></SystemErrorFault></detail>'
    "</soapenv:Fault>"
)


def method_of(body):
    m = re.search(r"<soapenv:Body><(\w+)", body)
    return m.group(1) if m else "?"


def wide_body():
    head, tail = ENVELOPE.split("{}")
    inner = "<RetrieveServiceContentResponse xmlns=\"urn:vim25\"><returnval>"
    closing = "</returnval></RetrieveServiceContentResponse>"
    size = 63 * 1024 * 1024 - len(head) - len(tail) - len(inner) - len(closing)
    return (head + inner + "<a/>" * (size // 4) + closing + tail).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True, choices=["hang", "wide", "redirect", "fault"])
    args = ap.parse_args()
    wide = wide_body() if args.mode == "wide" else b""

    class Other(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
            emit(f"STOLEN {self.path}")
            self.send_response(500)
            self.end_headers()

        def log_message(self, *a):
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()

    class Handler(PeerHandler):
        def answer(self, status, body, headers=()):
            self.reply(status, body, "text/xml; charset=utf-8", headers)

        def do_POST(self):
            body = self.read_body().decode("utf-8", "replace")
            method = method_of(body)
            emit(f"REQUEST {method}")
            if args.mode == "hang":
                time.sleep(3600)
                return
            if args.mode == "wide":
                self.answer(200, wide)
                return
            if method == "RetrieveServiceContent":
                self.answer(200, SERVICE_CONTENT.encode())
            elif method == "Login" and args.mode == "redirect":
                where = f"http://127.0.0.1:{other.server_address[1]}/sdk"
                self.answer(307, b"", [("Location", where)])
            elif method == "Login" and args.mode == "fault":
                self.answer(500, FAULT.encode())
            else:
                self.answer(500, FAULT.encode())

    serve(Handler)


if __name__ == "__main__":
    sys.exit(main())
