#!/usr/bin/env python3
"""Encrypt throughput on PostgreSQL with the per-request coherence check (Kms:Store:SharedByNodes) on against off.

Starts a throwaway PostgreSQL cluster (initdb into --work, 127.0.0.1 only, trust authentication for the local test
user; as root the server runs as the postgres user), publishes the working tree once and starts it twice on loopback
(permissive mode, own data directories and databases, one symmetric key each): once with
Kms:Store:SharedByNodes=false (the catalogue answers alone, as with SQLite) and once with the default for PostgreSQL
(true: every request first asks the store for changes since the last it applied; concurrent requests share one
query). wrk drives Encrypt against both in --rounds interleaved rounds per connection count. The report is the median
of the per-round ratios on/off with their range. Nothing writes during the run, so the "on" instance's queries all
come back empty: this is the price of the check itself, paid by every request.

Usage: bench/coherence_overhead.py [--connections 2,16,64] [--duration 5] [--rounds 5] [--warmup 20] [--work /var/tmp/kms-coherence-bench]
Needs: wrk, SoftHSM2, the .NET SDK, Debian's postgresql (/usr/lib/postgresql/*/bin). Only loopback addresses are used.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402
import compare_commits as cc  # noqa: E402  (publish, body files)

USER = "kmsbench"


def postgres_bin():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda b: int(b.split("/")[-2]))
    if not bins:
        sys.exit("PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
    return bins[-1]


def as_server_user(cmd):
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_cluster(work):
    folder = os.path.join(work, "pg")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data = os.path.join(folder, "data")
    bin_dir = postgres_bin()
    subprocess.run(as_server_user([os.path.join(bin_dir, "initdb"), "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8"]),
                   check=True, stdout=subprocess.DEVNULL)
    port = rb.free_port()
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} -c fsync=off -c max_connections=300"
    subprocess.run(as_server_user([os.path.join(bin_dir, "pg_ctl"), "-D", data, "-o", options, "-l", os.path.join(folder, "log"), "-w", "start"]),
                   check=True, stdout=subprocess.DEVNULL)
    return bin_dir, data, port


def stop_cluster(bin_dir, data):
    subprocess.run(as_server_user([os.path.join(bin_dir, "pg_ctl"), "-D", data, "-m", "immediate", "stop"]), stdout=subprocess.DEVNULL)


def create_database(bin_dir, port, name):
    subprocess.run([os.path.join(bin_dir, "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, name], check=True)


def start(work, name, build_dir, connection_string, extra):
    port = rb.free_port()
    url = f"http://{rb.HOST}:{port}"
    data_dir = os.path.join(work, f"data-{name}")
    log = open(os.path.join(work, f"{name}.log"), "ab")
    process = rb.start(["dotnet", os.path.join(build_dir, "KmsEmulator.Api.dll"), "--urls", url, "--Kms:Tls:Enabled=false", "--data-dir", data_dir,
                        "--Kms:Audit:Enabled=false", "--Kms:Store:Provider=PostgreSql", "--Kms:Store:ConnectionString=" + connection_string,
                        *extra], log)
    rb.wait_healthy(url, process, timeout=120)
    key = rb.kms(url, "CreateKey", {})["KeyMetadata"]["KeyId"]
    return process, url, key


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="2,16,64")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20,
                        help="seconds of load per instance before measuring: the runtime keeps re-compiling hot code (tiered JIT) for 10-20 s after start")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kms-coherence-bench"))
    args = parser.parse_args()

    cc.fresh_work(args.work)
    build = os.path.join(args.work, "build")
    cc.publish(rb.ROOT, build)

    bin_dir, data, pg_port = start_cluster(args.work)
    targets = {}
    report = {}
    try:
        for name, extra in [("off", ["--Kms:Store:SharedByNodes=false"]), ("on", [])]:
            create_database(bin_dir, pg_port, f"kms_{name}")
            targets[name] = start(args.work, name, build, f"Host=127.0.0.1;Port={pg_port};Database=kms_{name};Username={USER}", extra)
        bodies = {name: cc.body_file(args.work, name, "Encrypt", url, key) for name, (_, url, key) in targets.items()}
        for name, (_, url, _) in targets.items():  # warm-up
            rb.run_wrk(url, "Encrypt", bodies[name], 16, args.warmup)

        for connections in [int(c) for c in args.connections.split(",")]:
            ratios, rates = [], {"off": [], "on": []}
            for _ in range(args.rounds):
                measured = {name: rb.run_wrk(url, "Encrypt", bodies[name], connections, args.duration)["rps"] for name, (_, url, _) in targets.items()}
                for name, rps in measured.items():
                    rates[name].append(rps)
                ratios.append(measured["on"] / measured["off"])
            report[connections] = {"off_rps": round(statistics.median(rates["off"])), "on_rps": round(statistics.median(rates["on"])),
                                   "ratio_median": round(statistics.median(ratios), 3),
                                   "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)]}
            r = report[connections]
            print(f"Encrypt @{connections}: feed on/off median {r['ratio_median']} (range {r['ratio_range'][0]}-{r['ratio_range'][1]}); "
                  f"off {r['off_rps']} req/s, on {r['on_rps']} req/s", flush=True)
    finally:
        for process, _, _ in targets.values():
            rb.stop(process)
        stop_cluster(bin_dir, data)
    print(json.dumps({"rounds": args.rounds, "duration": args.duration, "results": report}))


if __name__ == "__main__":
    main()
