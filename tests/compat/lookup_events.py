#!/usr/bin/env python3
"""CloudTrail LookupEvents through boto3 against a running KmsEmulator, driven by a test.

Usage: python3 tests/compat/lookup_events.py <endpoint-url> < calls.json

stdin is a JSON list of calls, each one of
  {"call": "lookup", "args": {...LookupEvents parameters...}}
  {"call": "paginate", "args": {...}, "page_size": N}     (boto3's lookup_events paginator)
  {"call": "describe_trails"}
StartTime/EndTime are given as epoch seconds and passed to boto3 as datetimes, as a user would.
stdout is a JSON list with one result per call: {"pages": [{"events": [...], "next": token}]} or
{"error": {"code", "message", "status"}}. Credentials and region come from the environment.
The assertions are made by the calling test (tests/KmsEmulator.EndToEnd.Tests/LookupEventsClientTests.cs).
"""

import datetime
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def as_datetimes(args):
    args = dict(args)
    for name in ("StartTime", "EndTime"):
        if name in args:
            args[name] = datetime.datetime.fromtimestamp(args[name], tz=datetime.timezone.utc)
    return args


def page_of(response):
    events = []
    for event in response.get("Events", []):
        event = dict(event)
        event["EventTime"] = int(event["EventTime"].timestamp())
        events.append(event)
    return {"events": events, "next": response.get("NextToken")}


def run(client, call):
    try:
        if call["call"] == "lookup":
            return {"pages": [page_of(client.lookup_events(**as_datetimes(call.get("args", {}))))]}
        if call["call"] == "paginate":
            paginator = client.get_paginator("lookup_events")
            pages = paginator.paginate(**as_datetimes(call.get("args", {})), PaginationConfig={"PageSize": call["page_size"]})
            return {"pages": [page_of(page) for page in pages]}
        if call["call"] == "describe_trails":
            client.describe_trails()
            return {"pages": []}
        raise ValueError("unknown call " + call["call"])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return {"error": {"code": error.get("Code"), "message": error.get("Message"), "status": status}}


def main():
    endpoint = sys.argv[1]
    client = boto3.client(
        "cloudtrail",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )
    calls = json.load(sys.stdin)
    json.dump([run(client, call) for call in calls], sys.stdout)


if __name__ == "__main__":
    main()
