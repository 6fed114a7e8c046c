// govmomi (govc's library) as a peer in `make bench`: log in to a vCenter, create an
// EventHistoryCollector and read every event it offers with ReadNextEvents (1000 per call),
// read-only: govmomi's own SOAP client and decoder, no delivery. Prints one JSON line:
// events, seconds, events_per_sec. Built by bench/build-govmomi-peer.sh next to govc.
//
//	govmomi-read -url http://bench:bench@127.0.0.1:8989/sdk -expect 100000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/vim25/types"
)

func run(raw string, expect int) error {
	ctx := context.Background()
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse -url: %w", err)
	}
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return fmt.Errorf("log in to %s: %w", u.Host, err)
	}
	defer func() { _ = c.Logout(ctx) }()
	collector, err := event.NewManager(c.Client).CreateCollectorForEvents(ctx, types.EventFilterSpec{})
	if err != nil {
		return fmt.Errorf("create collector: %w", err)
	}
	start := time.Now()
	count := 0
	var lastKey int32
	for {
		page, err := collector.ReadNextEvents(ctx, 1000)
		if err != nil {
			return fmt.Errorf("ReadNextEvents after %d events: %w", count, err)
		}
		if len(page) == 0 {
			break
		}
		for _, ev := range page {
			e := ev.GetEvent()
			if e.Key <= lastKey || e.CreatedTime.IsZero() {
				return fmt.Errorf("unexpected event %#v", e)
			}
			lastKey = e.Key
		}
		count += len(page)
	}
	seconds := time.Since(start).Seconds()
	_ = collector.Destroy(ctx)
	if count != expect {
		return fmt.Errorf("govmomi read %d events, expected %d", count, expect)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]float64{
		"events": float64(count), "seconds": seconds, "events_per_sec": float64(count) / seconds,
	})
}

func main() {
	raw := flag.String("url", "", "SDK URL with credentials, http://user:pass@host:port/sdk")
	expect := flag.Int("expect", 0, "events the collector must yield")
	flag.Parse()
	if err := run(*raw, *expect); err != nil {
		fmt.Fprintln(os.Stderr, "govmomi-read:", err)
		os.Exit(1)
	}
}
