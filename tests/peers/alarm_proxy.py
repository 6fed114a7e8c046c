#!/usr/bin/env python3
"""vcsim with alarms: a loopback HTTP proxy in front of vcsim 0.24.2 (which has no
AlarmManager) that answers the PropertyCollector's reads of Alarm objects itself, following
vim25's documented AlarmInfo type (AlarmSpec + key, alarm, entity, lastModifiedTime,
lastModifiedUser, creationEventId), and forwards everything else to vcsim unchanged. The alarm
events themselves are posted into vcsim (tests/peers/vc_post_event.py alarm-status).

    alarm_proxy.py --vcsim https://127.0.0.1:PORT [--port 0]

stdout: ``LISTENING <port>``, then one JSON line per alarm read it answered:
    {"call": "RetrievePropertiesEx", "alarms": ["alarm-1", ...], "answered": [...]}
(``call`` is RetrieveProperties(Ex) for a PropertyCollector read, as the router and govc make
it, or Fetch for pyVmomi's property accessor, ``alarm.info``).

Alarms: ``alarm-1`` (host CPU usage: a metric expression, yellow 75 %, red 90 %, an email action
on yellow to red) and ``alarm-2`` (vSAN disk space: an event expression). Any other Alarm moref
is unknown: a read that names one gets vCenter's ManagedObjectNotFound fault, as a removed
alarm does.
"""

import argparse
import http.client
import json
import re
import ssl
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'

ALARMS = {
    "alarm-1": """<name>Host CPU usage</name><systemName>alarm.HostCPUUsageAlarm</systemName>\
<description>Default alarm to monitor host CPU usage</description><enabled>true</enabled>\
<expression xsi:type="OrAlarmExpression"><expression xsi:type="MetricAlarmExpression">\
<operator>isAbove</operator><type>HostSystem</type><metric><counterId>2</counterId><instance></instance></metric>\
<yellow>7500</yellow><yellowInterval>300</yellowInterval><red>9000</red><redInterval>300</redInterval>\
</expression></expression>\
<action xsi:type="GroupAlarmAction"><action xsi:type="AlarmTriggeringAction">\
<action xsi:type="SendEmailAction"><toList>ops@corp.local</toList><ccList></ccList>\
<subject>CPU</subject><body>Host CPU is high</body></action>\
<transitionSpecs><startState>yellow</startState><finalState>red</finalState><repeats>true</repeats></transitionSpecs>\
<green2yellow>false</green2yellow><yellow2red>false</yellow2red><red2yellow>false</red2yellow><yellow2green>false</yellow2green>\
</action></action>\
<setting><toleranceRange>0</toleranceRange><reportingFrequency>300</reportingFrequency></setting>\
<key>alarm-1.group-d1</key><alarm type="Alarm">alarm-1</alarm><entity type="Folder">group-d1</entity>\
<lastModifiedTime>2026-11-30T10:00:00.12Z</lastModifiedTime><lastModifiedUser>VSPHERE.LOCAL\\Administrator</lastModifiedUser>\
<creationEventId>0</creationEventId>""",
    "alarm-2": """<name>vSAN health alarm 'Cluster disk space utilization'</name>\
<systemName>alarm.VsanClusterDiskSpaceAlarm</systemName><description>Disk space</description><enabled>true</enabled>\
<expression xsi:type="OrAlarmExpression"><expression xsi:type="EventAlarmExpression">\
<eventType>EventEx</eventType><eventTypeId>vsan.health.test.diskspace</eventTypeId><objectType>ClusterComputeResource</objectType>\
<status>yellow</status></expression></expression>\
<setting><toleranceRange>0</toleranceRange><reportingFrequency>0</reportingFrequency></setting>\
<key>alarm-2.group-d1</key><alarm type="Alarm">alarm-2</alarm><entity type="Folder">group-d1</entity>\
<lastModifiedTime>2026-11-30T10:00:00Z</lastModifiedTime><lastModifiedUser>vpxd</lastModifiedUser>\
<creationEventId>0</creationEventId>""",
}


def envelope(method, inner):
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" ' + XSI + '><soapenv:Body>'
            '<%sResponse xmlns="urn:vim25">%s</%sResponse></soapenv:Body></soapenv:Envelope>'
            % (method, inner, method))


def fault(obj):
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' + XSI + '><soapenv:Body>'
            '<soapenv:Fault><faultcode>ServerFaultCode</faultcode>'
            '<faultstring>The object \'vim.alarm.Alarm:%s\' has already been deleted or has not been completely created</faultstring>'
            '<detail><ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound">'
            '<obj type="Alarm">%s</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>'
            '</soapenv:Body></soapenv:Envelope>' % (obj, obj))


def alarm_read(body):
    """(method, [alarm morefs]) when the request reads Alarm objects, else None."""
    fetch = re.search(r'<(?:\w+:)?Fetch\b.*?<(?:\w+:)?_this\b[^>]*type="Alarm"[^>]*>([^<]+)<', body, re.S)
    if fetch:
        return "Fetch", [fetch.group(1).strip()]
    m = re.search(r"<(\w+:)?(RetrievePropertiesEx|RetrieveProperties)\b", body)
    if not m or not re.search(r"<(\w+:)?type>Alarm</(\w+:)?type>", body):
        return None
    objs = re.findall(r'<(?:\w+:)?obj\b[^>]*type="Alarm"[^>]*>([^<]+)</(?:\w+:)?obj>', body)
    return m.group(2), [o.strip() for o in objs]


def answer(method, alarms):
    if method == "Fetch":
        return envelope(method, '<returnval xsi:type="AlarmInfo">%s</returnval>' % ALARMS[alarms[0]])
    objects = "".join(
        '<objects><obj type="Alarm">%s</obj><propSet><name>info</name>'
        '<val xsi:type="AlarmInfo">%s</val></propSet></objects>' % (a, ALARMS[a])
        for a in alarms)
    if method == "RetrievePropertiesEx":
        return envelope(method, "<returnval>%s</returnval>" % objects)
    return envelope(method, objects.replace("<objects>", "<returnval>").replace("</objects>", "</returnval>"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _forward(self, method, body):
        u = self.server.vcsim
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.server.tls, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        conn.request(method, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    def _reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._forward("GET", None)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        read = alarm_read(body.decode("utf-8", "replace"))
        if read is None:
            return self._forward("POST", body)
        method, alarms = read
        unknown = [a for a in alarms if a not in ALARMS]
        print(json.dumps({"call": method, "alarms": alarms, "answered": [] if unknown else alarms}), flush=True)
        if unknown:
            return self._reply(500, fault(unknown[0]))
        self._reply(200, answer(method, alarms))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The router hangs up on a long poll when a test stops it: not an error of the proxy.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vcsim", required=True)
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.vcsim = urllib.parse.urlparse(args.vcsim)
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    server.tls = tls
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
