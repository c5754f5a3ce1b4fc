#!/usr/bin/env python3
"""Encrypt throughput with the audit trail on against the same build with it off, in the same minutes.

Publishes the working tree once and starts it twice on loopback (permissive mode, own data directories, one symmetric
key each): once with Kms:Audit:Enabled=false, once with the defaults (auditing on). Then wrk drives Encrypt against
both in --rounds interleaved rounds per connection count: off, on, off, on, ... The report is the median of the
per-round ratios on/off with their range; the same for the server's CPU per request (off/on, so that both read as
the share of the unaudited speed that is left; wrk's CPU is not counted); and the number of records the audited
instance delivered (a run whose trail is missing records is not a valid measurement).

Usage: bench/audit_overhead.py [--connections 16,64] [--duration 5] [--rounds 5] [--warmup 20] [--work /var/tmp/kms-audit-bench]
Needs: wrk, SoftHSM2, the .NET SDK. Only loopback addresses are used.
"""
import argparse
import glob
import gzip
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402
import compare_commits as cc  # noqa: E402  (publish, body files)
from cpu_per_request import cpu_seconds  # noqa: E402


def delivered_records(data_dir):
    count = 0
    for path in glob.glob(os.path.join(data_dir, "audit", "AWSLogs", "*", "CloudTrail", "**", "*.json.gz"), recursive=True):
        with gzip.open(path) as f:
            count += len(json.load(f)["Records"])
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20,
                        help="seconds of load per instance before measuring: the runtime keeps re-compiling hot code (tiered JIT) for 10-20 s after start")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kms-audit-bench"))
    args = parser.parse_args()

    cc.fresh_work(args.work)
    build = os.path.join(args.work, "build")
    cc.publish(rb.ROOT, build)

    targets = {}
    report = {}
    requests_on = 0
    try:
        targets["off"] = cc.start(args.work, "off", build, ["--Kms:Audit:Enabled=false"])
        targets["on"] = cc.start(args.work, "on", build)
        bodies = {name: cc.body_file(args.work, name, "Encrypt", url, key) for name, (_, url, key) in targets.items()}
        for name, (_, url, _) in targets.items():  # warm-up
            rb.run_wrk(url, "Encrypt", bodies[name], 16, args.warmup)

        for connections in [int(c) for c in args.connections.split(",")]:
            ratios, rates, cpu_ratios = [], {"off": [], "on": []}, []
            for _ in range(args.rounds):
                measured, cpu = {}, {}
                for name, (process, url, _) in targets.items():
                    before = cpu_seconds(process.pid)
                    result = rb.run_wrk(url, "Encrypt", bodies[name], connections, args.duration)
                    measured[name] = result["rps"]
                    # The server's CPU per request (wrk's own CPU not counted): steadier than throughput when the
                    # machine's speed changes from minute to minute, as the two move together within a round.
                    cpu[name] = (cpu_seconds(process.pid) - before) / max(1, result.get("requests", 0))
                    if name == "on":
                        requests_on += result.get("requests", 0)
                for name, rps in measured.items():
                    rates[name].append(rps)
                ratios.append(measured["on"] / measured["off"])
                cpu_ratios.append(cpu["off"] / cpu["on"])
            report[connections] = {"off_rps": round(statistics.median(rates["off"])), "on_rps": round(statistics.median(rates["on"])),
                                   "ratio_median": round(statistics.median(ratios), 3),
                                   "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
                                   "cpu_ratio_median": round(statistics.median(cpu_ratios), 3),
                                   "cpu_ratio_range": [round(min(cpu_ratios), 3), round(max(cpu_ratios), 3)]}
            r = report[connections]
            print(f"Encrypt @{connections}: audit on/off median {r['ratio_median']} (range {r['ratio_range'][0]}-{r['ratio_range'][1]}); "
                  f"off {r['off_rps']} req/s, on {r['on_rps']} req/s; server CPU per request off/on median {r['cpu_ratio_median']} "
                  f"(range {r['cpu_ratio_range'][0]}-{r['cpu_ratio_range'][1]})", flush=True)
    finally:
        for process, _, _ in targets.values():
            rb.stop(process)
    # cc.start gives each instance the data directory data-<name> under the work folder.
    records = delivered_records(os.path.join(args.work, "data-on")) if "on" in targets else 0
    print(f"records delivered by the audited instance: {records} (wrk counted {requests_on} measured requests; warm-up and setup add more)")
    print(json.dumps({"rounds": args.rounds, "duration": args.duration, "results": report, "records": records}))


if __name__ == "__main__":
    main()
