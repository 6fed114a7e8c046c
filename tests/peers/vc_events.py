#!/usr/bin/env python3
"""Lists the events a vCenter (vcsim) recorded, with pyVmomi, for the delivery tests that
count events by key.

    vc_events.py --url https://user:pass@127.0.0.1:PORT/sdk

Prints one JSON line: [{"key": N, "type": "VmPoweredOnEvent", "time": "..."}...] in key
order (an EventHistoryCollector's latestPage at page size 1000, the most vcsim keeps). The
query's own login is among them; its logout comes after.
"""

import argparse
import json
import sys

from pyVim.connect import Disconnect
from pyVmomi import vim

from vc_connect import connect


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    args = p.parse_args()
    si = connect(args.url)
    try:
        # A collector's latestPage at the largest page size: vcsim's QueryEvents returns a
        # short default page only.
        collector = si.content.eventManager.CreateCollectorForEvents(vim.event.EventFilterSpec())
        try:
            collector.SetCollectorPageSize(1000)
            events = collector.latestPage
        finally:
            collector.DestroyCollector()
        out = sorted(
            ({"key": e.key, "type": type(e).__name__.split(".")[-1], "time": e.createdTime.isoformat()} for e in events),
            key=lambda e: e["key"],
        )
    finally:
        Disconnect(si)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
