"""pyVmomi as a peer in `make bench`: SmartConnect to a vCenter, create an EventHistoryCollector
and read every event it offers with ReadNextEvents (1000 per call), read-only: pyVmomi's own
SOAP client and deserializer, no delivery. Prints one JSON line: events, seconds, events_per_sec.

    pyvmomi_read.py --host 127.0.0.1 --port 8989 --expect 100000
"""

import argparse
import json
import sys
import time

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", default="bench")
    p.add_argument("--password", default="bench")
    p.add_argument("--expect", type=int, required=True, help="events the collector must yield")
    args = p.parse_args()

    si = SmartConnect(protocol="http", host=args.host, port=args.port, user=args.user, pwd=args.password)
    try:
        content = si.RetrieveContent()
        collector = content.eventManager.CreateCollectorForEvents(vim.event.EventFilterSpec())
        start = time.perf_counter()
        count = 0
        last_key = 0
        while True:
            page = collector.ReadNextEvents(1000)
            if not page:
                break
            for ev in page:
                # touch what a consumer reads, so nothing stays lazy
                if not isinstance(ev, vim.event.Event) or ev.key <= last_key or ev.createdTime is None:
                    print(f"unexpected event {ev!r}", file=sys.stderr)
                    return 1
                last_key = ev.key
            count += len(page)
        seconds = time.perf_counter() - start
        collector.DestroyCollector()
    finally:
        Disconnect(si)
    if count != args.expect:
        print(f"pyVmomi read {count} events, expected {args.expect}", file=sys.stderr)
        return 1
    print(json.dumps({"events": count, "seconds": seconds, "events_per_sec": count / seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
