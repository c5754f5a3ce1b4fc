#!/usr/bin/env python3
"""Encrypt, Decrypt and CreateKey through a node on PostgreSQL against one on SQLite, in the same minutes.

Starts a throwaway PostgreSQL cluster (as bench/coherence_overhead.py does: initdb into --work, 127.0.0.1 only, fsync
off), publishes the working tree once and starts it twice on loopback with the defaults of each store (permissive
mode, auditing on, own data directories): one with the embedded SQLite store, one with Kms:Store:Provider=PostgreSql
(and so the shared audit index and the per-request coherence check, SharedByNodes=true). wrk drives each operation
against both in --rounds interleaved rounds. The report is the median of the per-round ratios PostgreSQL/SQLite with
their range. CreateKey makes one HSM object and one store commit per request, so its rounds add keys to both.

Usage: bench/store_compare.py [--ops Encrypt,Decrypt,CreateKey] [--connections 16,64] [--duration 5] [--rounds 3]
                              [--warmup 15] [--work /var/tmp/kms-store-compare]
Needs: wrk, SoftHSM2, the .NET SDK, Debian's postgresql. Only loopback addresses are used.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402
import compare_commits as cc  # noqa: E402  (publish, body files)
import coherence_overhead as co  # noqa: E402  (throwaway PostgreSQL cluster)


def body(work, name, operation, url, key):
    if operation != "CreateKey":
        return cc.body_file(work, name, operation, url, key)
    path = os.path.join(work, f"{name}-CreateKey.json")
    with open(path, "w") as f:
        json.dump({}, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", default="Encrypt,Decrypt,CreateKey")
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kms-store-compare"))
    args = parser.parse_args()

    cc.fresh_work(args.work)
    build = os.path.join(args.work, "build")
    cc.publish(rb.ROOT, build)
    bin_dir, data, pg_port = co.start_cluster(args.work)
    targets = {}
    report = {}
    try:
        co.create_database(bin_dir, pg_port, "kms")
        connection = f"Host=127.0.0.1;Port={pg_port};Database=kms;Username={co.USER}"
        targets["sqlite"] = cc.start(args.work, "sqlite", build)
        targets["postgresql"] = cc.start(args.work, "postgresql", build, ["--Kms:Store:Provider=PostgreSql", "--Kms:Store:ConnectionString=" + connection])
        operations = args.ops.split(",")
        bodies = {(name, op): body(args.work, name, op, url, key) for name, (_, url, key) in targets.items() for op in operations}
        for name, (_, url, key) in targets.items():  # warm-up
            rb.run_wrk(url, "Encrypt", cc.body_file(args.work, name, "Encrypt", url, key), 16, args.warmup)
        for op in operations:
            for connections in [int(c) for c in args.connections.split(",")]:
                ratios, rates = [], {name: [] for name in targets}
                for _ in range(args.rounds):
                    measured = {name: rb.run_wrk(url, op, bodies[(name, op)], connections, args.duration)["rps"] for name, (_, url, _) in targets.items()}
                    for name, rps in measured.items():
                        rates[name].append(rps)
                    ratios.append(measured["postgresql"] / measured["sqlite"])
                r = {"sqlite_rps": round(statistics.median(rates["sqlite"])), "postgresql_rps": round(statistics.median(rates["postgresql"])),
                     "ratio_median": round(statistics.median(ratios), 3), "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)]}
                report[f"{op}@{connections}"] = r
                print(f"{op} @{connections}: PostgreSQL/SQLite median {r['ratio_median']} (range {r['ratio_range'][0]}-{r['ratio_range'][1]}); "
                      f"SQLite {r['sqlite_rps']} req/s, PostgreSQL {r['postgresql_rps']} req/s", flush=True)
    finally:
        for process, _, _ in targets.values():
            rb.stop(process)
        co.stop_cluster(bin_dir, data)
    print(json.dumps({"rounds": args.rounds, "duration": args.duration, "results": report}))


if __name__ == "__main__":
    main()
