#!/usr/bin/env python3
"""A fake vCenter that replays recorded events: plain HTTP on 127.0.0.1, SOAP at /sdk, the
methods the router calls (as bench/src/fake_vcenter.rs answers them), over the events of the
given XML files, byte for byte as recorded.

    replay_vcenter.py [--port 0] EVENT.xml...

Each EVENT.xml holds one event element (as tests/peers/vc_event_xml.py writes them, with the
namespace declarations it needs); the events are served in key order. CurrentTime answers
2000-01-01T00:00:00Z, before every event, so a router that starts "now" delivers them all:
ReadNextEvents tails each collector from the first event; WaitForUpdatesEx reports latestPage
(the newest events, newest first, as many as the collector's page size, each element renamed
`Event`) once, then waits maxWaitSeconds and answers nothing.

stdout protocol (one line each, flushed):

    LISTENING <port>
    REQUEST <method name>
"""

import argparse
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            '<{m}Response xmlns="urn:vim25">{inner}</{m}Response></soapenv:Body></soapenv:Envelope>')

SERVICE_VERSIONS = """<?xml version="1.0" encoding="UTF-8" ?>
<namespaces version="1.0">
 <namespace>
  <name>urn:vim25</name>
  <version>8.0.3.0</version>
  <priorVersions><version>8.0.2.0</version><version>8.0.1.0</version><version>8.0.0.0</version><version>7.0.3.0</version><version>7.0</version><version>6.7</version><version>6.5</version></priorVersions>
 </namespace>
</namespaces>
"""

SERVICE_CONTENT = (
    '<returnval><rootFolder type="Folder">group-d1</rootFolder>'
    '<propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>'
    "<about><name>VMware vCenter Server</name><fullName>VMware vCenter Server 8.0.3 build-0 (replay)"
    "</fullName><vendor>VMware, Inc.</vendor><version>8.0.3</version><build>0</build>"
    "<localeVersion>INTL</localeVersion><localeBuild>000</localeBuild><osType>linux-x64</osType>"
    "<productLineId>vpx</productLineId><apiType>VirtualCenter</apiType><apiVersion>8.0.3.0</apiVersion>"
    "<instanceUuid>replay</instanceUuid></about>"
    '<sessionManager type="SessionManager">SessionManager</sessionManager>'
    '<eventManager type="EventManager">EventManager</eventManager></returnval>'
)


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def between(s, open_, close):
    i = s.find(open_)
    if i < 0:
        return None
    i += len(open_)
    j = s.find(close, i)
    return s[i:j] if j >= 0 else None


def renamed(xml, tag):
    """The event element under another name (the start and the end tag only)."""
    m = re.match(r"\s*<([\w.-]+:)?([\w.-]+)", xml)
    prefix, name = m.group(1) or "", m.group(2)
    body = xml.strip()
    body = "<" + prefix + tag + body[len("<" + prefix + name):]
    end = "</" + prefix + name + ">"
    if body.endswith(end):
        body = body[: -len(end)] + "</" + prefix + tag + ">"
    return body


class State:
    def __init__(self, events):
        self.lock = threading.Lock()
        self.events = events  # XML texts, key order
        self.collectors = {}  # id -> [next index, page size]
        self.next_id = 0
        self.reported = False

    def latest_page(self, collector):
        size = self.collectors.get(collector, [0, 10])[1]
        return "".join(renamed(x, "Event") for x in reversed(self.events[-size:]))


def handler(state):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, text, headers=()):
            data = text.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.startswith("/sdk/vimServiceVersions.xml"):
                return self.answer(SERVICE_VERSIONS)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8", "replace")
            after = body[body.find("Body"):]
            m = re.search(r"<([\w.:-]+)", after[after.find("<"):])
            method = m.group(1).rsplit(":", 1)[-1] if m else ""
            emit("REQUEST " + method)
            reply = lambda inner: ENVELOPE.format(m=method, inner=inner)
            collector = between(body, 'type="EventHistoryCollector">', "<") or ""
            max_count = int(between(body, "<maxCount>", "<") or 10)
            if method == "RetrieveServiceContent":
                return self.answer(reply(SERVICE_CONTENT))
            if method == "Login":
                user = between(body, "<userName>", "<") or "replay"
                return self.answer(reply(
                    "<returnval><key>replay</key><userName>%s</userName><fullName>%s</fullName>"
                    "<loginTime>2026-11-30T10:00:00Z</loginTime><lastActiveTime>2026-11-30T10:00:00Z"
                    "</lastActiveTime><locale>en</locale><messageLocale>en</messageLocale>"
                    "<extensionSession>false</extensionSession><ipAddress>127.0.0.1</ipAddress>"
                    "<userAgent>replay</userAgent><callCount>0</callCount></returnval>" % (user, user)),
                    [("Set-Cookie", 'vmware_soap_session="replay"; Path=/; HttpOnly')])
            if method == "CurrentTime":
                return self.answer(reply("<returnval>2000-01-01T00:00:00Z</returnval>"))
            with state.lock:
                if method == "CreateCollectorForEvents":
                    state.next_id += 1
                    cid = "session[replay]collector-%d" % state.next_id
                    state.collectors[cid] = [0, 10]
                    return self.answer(reply('<returnval type="EventHistoryCollector">%s</returnval>' % cid))
                if method == "SetCollectorPageSize":
                    if collector in state.collectors:
                        state.collectors[collector][1] = max_count
                    return self.answer(reply(""))
                if method == "ReadNextEvents":
                    pos = state.collectors.get(collector, [len(state.events)])[0]
                    to = min(pos + max_count, len(state.events))
                    if collector in state.collectors:
                        state.collectors[collector][0] = to
                    page = "".join(renamed(x, "returnval") for x in state.events[pos:to])
                    return self.answer(reply(page))
                if method == "DestroyCollector":
                    state.collectors.pop(collector, None)
                    return self.answer(reply(""))
                if method == "CreatePropertyCollector":
                    return self.answer(reply('<returnval type="PropertyCollector">session[1]pc</returnval>'))
                if method == "CreateFilter":
                    state.reported = False
                    state.watched = collector
                    return self.answer(reply('<returnval type="PropertyFilter">filter-1</returnval>'))
                if method == "RetrievePropertiesEx":
                    page = state.latest_page(collector)
                    return self.answer(reply(
                        '<returnval><objects><obj type="EventHistoryCollector">c</obj><propSet>'
                        '<name>latestPage</name><val xsi:type="ArrayOfEvent">%s</val></propSet>'
                        "</objects></returnval>" % page))
                if method == "WaitForUpdatesEx":
                    if not state.reported:
                        state.reported = True
                        page = state.latest_page(getattr(state, "watched", ""))
                        return self.answer(reply(
                            '<returnval><version>1</version><filterSet><filter type="PropertyFilter">'
                            "filter-1</filter><objectSet><kind>modify</kind><obj type=\"EventHistoryCollector\">"
                            "c</obj><changeSet><name>latestPage</name><op>assign</op>"
                            '<val xsi:type="ArrayOfEvent">%s</val></changeSet></objectSet></filterSet>'
                            "</returnval>" % page))
            if method == "WaitForUpdatesEx":
                wait = int(between(body, "<maxWaitSeconds>", "<") or 1)
                time.sleep(min(wait, 5))
                return self.answer(reply(""))
            return self.answer(reply(""))

    return H


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("events", nargs="+")
    args = p.parse_args()
    events = []
    for path in args.events:
        with open(path, encoding="utf-8") as f:
            xml = f.read().strip()
        key = int(re.search(r"<key>\s*(-?\d+)\s*</key>", xml).group(1))
        events.append((key, xml))
    events.sort()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(State([x for _, x in events])))
    server.daemon_threads = True
    emit("LISTENING %d" % server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
