#!/usr/bin/env python3
"""boto3 against a moto server, for the EventBridge end-to-end tests.

Run with the test venv (scripts/install-test-tools.sh); the moto server itself is
``.tools/venv/bin/moto_server -H 127.0.0.1 -p PORT`` started by the test.

    moto_aws.py setup   --endpoint URL --bus NAME --rule NAME=PATTERN_JSON [--rule ...]
        Creates the event bus and, per rule, an SQS queue named after the rule as
        the rule's only target. Prints one JSON line:
        {"rules": {NAME: RULE_ARN}, "queues": {NAME: QUEUE_URL}}
    moto_aws.py receive --endpoint URL --queue QUEUE_URL [--quiet SECONDS]
        Reads (and deletes) messages until the queue stays empty for --quiet
        seconds (default 2). Prints one JSON line: the list of message bodies,
        each the EventBridge event as the target got it.

Credentials are fixed test values; moto accepts any.
"""

import argparse
import json
import sys
import time

import boto3

REGION = "us-west-1"


def clients(endpoint):
    kw = dict(
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="AKIDMOTOTEST",
        aws_secret_access_key="moto-secret",
    )
    return boto3.client("events", **kw), boto3.client("sqs", **kw)


def setup(args):
    events, sqs = clients(args.endpoint)
    events.create_event_bus(Name=args.bus)
    out = {"rules": {}, "queues": {}}
    for spec in args.rule:
        name, _, pattern = spec.partition("=")
        json.loads(pattern)  # fail here, not inside moto, on a typo
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule = events.put_rule(Name=name, EventBusName=args.bus, EventPattern=pattern)["RuleArn"]
        events.put_targets(Rule=name, EventBusName=args.bus, Targets=[{"Id": "queue", "Arn": arn}])
        out["rules"][name] = rule
        out["queues"][name] = url
    print(json.dumps(out), flush=True)


def receive(args):
    _, sqs = clients(args.endpoint)
    bodies = []
    quiet_until = time.monotonic() + args.quiet
    while time.monotonic() < quiet_until:
        got = sqs.receive_message(QueueUrl=args.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        msgs = got.get("Messages", [])
        if not msgs:
            time.sleep(0.2)
            continue
        for m in msgs:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=args.queue, ReceiptHandle=m["ReceiptHandle"])
        quiet_until = time.monotonic() + args.quiet
    print(json.dumps(bodies), flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--bus", required=True)
    s.add_argument("--rule", action="append", default=[])
    r = sub.add_parser("receive")
    r.add_argument("--endpoint", required=True)
    r.add_argument("--queue", required=True)
    r.add_argument("--quiet", type=float, default=2.0)
    args = p.parse_args()
    {"setup": setup, "receive": receive}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
