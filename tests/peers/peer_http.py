"""What the Python test peers share (imported by fake_horizon.py, fake_openfaas.py,
ce_receiver.py and hostile_vcenter.py): one JSON line per record on stdout, written whole from
any thread; a quiet HTTP/1.1 handler with reply and body helpers; and the loopback server that
announces ``LISTENING <port>`` on stdout, the first line every test harness reads.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_out = threading.Lock()


def emit(record):
    """One JSON line on stdout (sorted keys), flushed; a plain string goes out as it is."""
    line = record if isinstance(record, str) else json.dumps(record, sort_keys=True)
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class PeerHandler(BaseHTTPRequestHandler):
    """Keep-alive like real servers, no access log unless the server sets ``verbose``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if getattr(self.server, "verbose", False):
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def reply(self, status, body=b"", content_type=None, headers=()):
        """Answers with ``body`` (bytes, or a JSON document for anything else)."""
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def read_body(self):
        """The request body, chunked or with a Content-Length."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def read_json(self):
        """The body as JSON, or None when it is not."""
        try:
            return json.loads(self.read_body() or b"null")
        except ValueError:
            return None


def serve(handler, port=0, **attributes):
    """Serves ``handler`` on 127.0.0.1:``port`` (0: any) with ``attributes`` set on the server,
    after printing ``LISTENING <port>``; returns at KeyboardInterrupt."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    for name, value in attributes.items():
        setattr(server, name, value)
    emit("LISTENING %d" % server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
