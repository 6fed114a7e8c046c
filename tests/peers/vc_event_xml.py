#!/usr/bin/env python3
"""Saves the XML of every event a vCenter (vcsim) has, exactly as its SOAP answer carries it:
the way VEBA's router reads events (an EventHistoryCollector and ReadNextEvents), with raw SOAP
and only the Python standard library.

    vc_event_xml.py --url https://user:pass@127.0.0.1:PORT/sdk --out-dir DIR [--type T]...
                    [--min-key N] [--insecure]

Writes DIR/<key>-<EventType>.xml for each event (only the types given with --type, if any,
and only keys from --min-key on):
the `<returnval>` element as the server wrote it, byte for byte, except that the namespace
declarations it inherits from the envelope (the default "urn:vim25", xsd, xsi, ...) are added
to its start tag, so the file is a document of its own. Prints one JSON line:
{"events": [{"key": N, "type": T, "file": NAME}...]} in key order.
"""

import argparse
import http.cookiejar
import json
import os
import re
import ssl
import sys
import urllib.parse
import urllib.request
from xml.sax.saxutils import escape

ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            '<soapenv:Body>%s</soapenv:Body></soapenv:Envelope>')


class Soap:
    def __init__(self, url, insecure):
        u = urllib.parse.urlparse(url)
        self.user = urllib.parse.unquote(u.username or "")
        self.password = urllib.parse.unquote(u.password or "")
        host = u.hostname + (":%d" % u.port if u.port else "")
        self.endpoint = "%s://%s%s" % (u.scheme, host, u.path or "/sdk")
        handlers = [urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())]
        if insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self.opener = urllib.request.build_opener(*handlers)

    def call(self, body):
        req = urllib.request.Request(
            self.endpoint, data=(ENVELOPE % body).encode("utf-8"),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:vim25/6.5"'})
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            sys.exit("vc_event_xml.py: SOAP fault: %s" % e.read().decode("utf-8", "replace")[:2000])


def moref(text, tag):
    m = re.search(r"<%s type=\"([^\"]+)\">([^<]+)</%s>" % (tag, tag), text)
    if not m:
        sys.exit("vc_event_xml.py: no <%s> in the answer" % tag)
    return m.group(1), m.group(2)


def this(mo):
    return '<_this type="%s">%s</_this>' % (escape(mo[0]), escape(mo[1]))


def standalone(event_xml, envelope_head):
    """The element with the namespace declarations of its ancestors it does not make itself."""
    start_end = event_xml.index(">")
    start = event_xml[:start_end]
    own = set(re.findall(r"\sxmlns(?::([\w.-]+))?=", start))
    own = {p or "" for p in own}
    inherited = []
    # The innermost declaration of a prefix wins: read them from the inside out.
    for prefix, uri in reversed(re.findall(r"\sxmlns(?::([\w.-]+))?=\"([^\"]*)\"", envelope_head)):
        if (prefix or "") not in own:
            own.add(prefix or "")
            inherited.append(' xmlns%s="%s"' % (":" + prefix if prefix else "", uri))
    if start.endswith("/"):
        return start[:-1] + "".join(inherited) + "/" + event_xml[start_end:]
    return start + "".join(inherited) + event_xml[start_end:]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--type", action="append", default=[])
    p.add_argument("--min-key", type=int)
    p.add_argument("--insecure", action="store_true")
    args = p.parse_args()
    soap = Soap(args.url, args.insecure)
    content = soap.call('<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">'
                        'ServiceInstance</_this></RetrieveServiceContent>')
    session_manager = moref(content, "sessionManager")
    event_manager = moref(content, "eventManager")
    soap.call('<Login xmlns="urn:vim25">%s<userName>%s</userName><password>%s</password></Login>'
              % (this(session_manager), escape(soap.user), escape(soap.password)))
    try:
        created = soap.call('<CreateCollectorForEvents xmlns="urn:vim25">%s<filter><maxCount>1000'
                            '</maxCount></filter></CreateCollectorForEvents>' % this(event_manager))
        collector = moref(created, "returnval")
        answer = soap.call('<ReadNextEvents xmlns="urn:vim25">%s<maxCount>1000</maxCount>'
                           '</ReadNextEvents>' % this(collector))
        soap.call('<DestroyCollector xmlns="urn:vim25">%s</DestroyCollector>' % this(collector))
    finally:
        soap.call('<Logout xmlns="urn:vim25">%s</Logout>' % this(session_manager))

    # The envelope's and the response element's namespace declarations, in document order.
    body_at = answer.index("<returnval") if "<returnval" in answer else len(answer)
    head = " ".join(re.findall(r"<[^>]+>", answer[:body_at]))
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    for m in re.finditer(r"<returnval\b.*?</returnval>", answer, re.S):
        xml = m.group(0)
        ty = re.search(r"<returnval\b[^>]*?\s[\w.-]+:type=\"([^\"]+)\"", xml)
        ty = ty.group(1) if ty else "Event"
        key = int(re.search(r"<key>\s*(-?\d+)\s*</key>", xml).group(1))
        if args.type and ty not in args.type:
            continue
        if args.min_key is not None and key < args.min_key:
            continue
        name = "%d-%s.xml" % (key, ty)
        with open(os.path.join(args.out_dir, name), "w", encoding="utf-8", newline="") as f:
            f.write(standalone(xml, head) + "\n")
        written.append({"key": key, "type": ty, "file": name})
    written.sort(key=lambda e: e["key"])
    print(json.dumps({"events": written}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
