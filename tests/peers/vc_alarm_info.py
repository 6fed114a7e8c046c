#!/usr/bin/env python3
"""Reads an alarm's definition (Alarm.info, an AlarmInfo) with pyVmomi and compares it, field by
field, with the JSON the router put into an event's data (`AlarmInfo`, govmomi's field names).

    vc_alarm_info.py --url http://user:pass@127.0.0.1:PORT/sdk --alarm alarm-1 --compare FILE

FILE holds the router's AlarmInfo JSON. Every field pyVmomi reads must be in it with the same
value (names: the vim25 property name with its first letter upper-cased; references as
{"Type", "Value"}; type names by their WSDL name; times compared as instants; a field pyVmomi
reads as unset may be null or Go's zero value there; DynamicData's dynamicType and
dynamicProperty, which govmomi's types lack, are not compared). Prints one line per difference and exits 1 when there is any, else
prints the number of fields compared and exits 0.
"""

import argparse
import datetime
import json
import sys

from pyVim.connect import Disconnect
from pyVmomi import VmomiSupport, vim

from vc_connect import connect


def instant(text):
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


ZERO = (None, "", 0, False, [], {"Type": "", "Value": ""}, "0001-01-01T00:00:00Z")


def compare(py, ours, path, out, counted):
    if py is None or (isinstance(py, list) and not py):
        if ours not in ZERO and not (isinstance(ours, dict) and all(v in ZERO for v in ours.values())):
            out.append("%s: unset in pyVmomi, %r in the router's" % (path, ours))
        counted[0] += 1
        return
    if isinstance(py, VmomiSupport.ManagedObject):
        want = {"Type": py._wsdlName, "Value": py._moId}
        if ours != want:
            out.append("%s: %r in pyVmomi, %r in the router's" % (path, want, ours))
        counted[0] += 1
        return
    if isinstance(py, VmomiSupport.DataObject):
        if not isinstance(ours, dict):
            out.append("%s: an object in pyVmomi, %r in the router's" % (path, ours))
            return
        for prop in py._GetPropertyList():
            # DynamicData's own members: govmomi's Go types do not have them, so neither has
            # its JSON (nor VEBA's events).
            if prop.name in ("dynamicType", "dynamicProperty"):
                continue
            name = prop.name[0].upper() + prop.name[1:]
            if name not in ours:
                out.append("%s.%s: missing in the router's" % (path, name))
                continue
            compare(getattr(py, prop.name), ours[name], "%s.%s" % (path, name), out, counted)
        return
    if isinstance(py, list):
        if not isinstance(ours, list) or len(ours) != len(py):
            out.append("%s: %d items in pyVmomi, %r in the router's" % (path, len(py), ours))
            return
        for i, (a, b) in enumerate(zip(py, ours)):
            compare(a, b, "%s[%d]" % (path, i), out, counted)
        return
    counted[0] += 1
    if isinstance(py, type):
        # A vmodl.TypeName (e.g. MetricAlarmExpression.type): its WSDL name on the wire.
        want = getattr(py, "_wsdlName", py.__name__)
        if ours != want:
            out.append("%s: %r in pyVmomi, %r in the router's" % (path, want, ours))
        return
    if isinstance(py, datetime.datetime):
        if instant(ours) != py:
            out.append("%s: %s in pyVmomi, %r in the router's" % (path, py.isoformat(), ours))
        return
    if isinstance(py, bool) or ours is True or ours is False:
        if bool(py) != ours:
            out.append("%s: %r in pyVmomi, %r in the router's" % (path, py, ours))
        return
    if isinstance(py, (int, float)):
        if ours != py:
            out.append("%s: %r in pyVmomi, %r in the router's" % (path, py, ours))
        return
    if str(py) != ours:
        out.append("%s: %r in pyVmomi, %r in the router's" % (path, str(py), ours))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--alarm", required=True)
    p.add_argument("--compare", required=True)
    args = p.parse_args()
    with open(args.compare) as f:
        ours = json.load(f)
    si = connect(args.url)
    try:
        info = vim.alarm.Alarm(args.alarm, si._stub).info
        out, counted = [], [0]
        compare(info, ours, "AlarmInfo", out, counted)
    finally:
        Disconnect(si)
    for line in out:
        print(line)
    print("%d fields compared, %d differences" % (counted[0], len(out)))
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
