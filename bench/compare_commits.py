#!/usr/bin/env python3
"""Throughput of the working tree against an earlier commit, on the same machine in the same minutes.

Publishes the emulator from --base (a git commit, checked out in a temporary worktree) and from the working tree,
starts both on loopback (permissive mode, each with its own data directory and one symmetric key), then runs wrk
against them in --rounds interleaved rounds per operation: base, current, base, current, ... The report is the median
of the per-round ratios current/base with their range. A shared VM's speed changes from minute to minute; only
ratios taken within a round mean anything.

Usage: bench/compare_commits.py --base <commit> [--ops Encrypt,Decrypt,GenerateDataKey] [--connections 16]
                                [--duration 5] [--rounds 5] [--work /var/tmp/kms-compare]
Needs: wrk, SoftHSM2, the .NET SDK, git. Only loopback addresses are used.
"""
import argparse
import base64
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402  (shared helpers: free_port, start, stop, kms, wait_healthy, run_wrk)

BODIES = {
    "Encrypt": lambda key: {"KeyId": key, "Plaintext": base64.b64encode(b"x" * 32).decode()},
    "GenerateDataKey": lambda key: {"KeyId": key, "KeySpec": "AES_256"},
}


def publish(source_root, out_dir):
    subprocess.run(["dotnet", "publish", os.path.join(source_root, "src/KmsEmulator.Api"), "-c", "Release", "-o", out_dir,
                    "-nologo", "-v", "quiet"], check=True)


def fresh_work(work):
    """Makes the work folder and removes the data directories an earlier run left in it."""
    os.makedirs(work, exist_ok=True)
    for old in glob.glob(os.path.join(work, "data-*")):
        shutil.rmtree(old, ignore_errors=True)


def start(work, name, build_dir, extra=()):
    """Starts a build on a free loopback port with its own data directory, waits for /health and makes one key."""
    port = rb.free_port()
    url = f"http://{rb.HOST}:{port}"
    data_dir = os.path.join(work, f"data-{name}")
    log = open(os.path.join(work, f"{name}.log"), "ab")
    process = rb.start(["dotnet", os.path.join(build_dir, "KmsEmulator.Api.dll"), "--urls", url, "--Kms:Tls:Enabled=false", "--data-dir", data_dir,
                        "--Kms:LogLevel=Information", *extra], log)
    rb.wait_healthy(url, process, timeout=120)
    key = rb.kms(url, "CreateKey", {})["KeyMetadata"]["KeyId"]
    return process, url, key


def body_file(work, name, operation, url, key):
    if operation == "Decrypt":
        blob = rb.kms(url, "Encrypt", BODIES["Encrypt"](key))["CiphertextBlob"]
        body = {"CiphertextBlob": blob}
    else:
        body = BODIES[operation](key)
    path = os.path.join(work, f"{name}-{operation}.json")
    with open(path, "w") as f:
        json.dump(body, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True)
    parser.add_argument("--ops", default="Encrypt,Decrypt,GenerateDataKey")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kms-compare"))
    args = parser.parse_args()

    os.makedirs(args.work, exist_ok=True)
    base_tree = os.path.join(args.work, "base-tree")
    subprocess.run(["git", "-C", rb.ROOT, "worktree", "remove", "--force", base_tree], capture_output=True)
    subprocess.run(["git", "-C", rb.ROOT, "worktree", "add", "--detach", base_tree, args.base], check=True, capture_output=True)
    try:
        publish(base_tree, os.path.join(args.work, "base"))
    finally:
        subprocess.run(["git", "-C", rb.ROOT, "worktree", "remove", "--force", base_tree], capture_output=True)
    publish(rb.ROOT, os.path.join(args.work, "current"))

    targets = {}
    try:
        for name in ("base", "current"):
            targets[name] = start(args.work, name, os.path.join(args.work, name))
        bodies = {(name, op): body_file(args.work, name, op, url, key)
                  for name, (_, url, key) in targets.items() for op in args.ops.split(",")}
        first = args.ops.split(",")[0]
        for name, (_, url, _) in targets.items():  # warm-up
            rb.run_wrk(url, first, bodies[(name, first)], args.connections, args.duration)

        report = {}
        for op in args.ops.split(","):
            ratios, rates = [], {"base": [], "current": []}
            for _ in range(args.rounds):
                measured = {name: rb.run_wrk(url, op, bodies[(name, op)], args.connections, args.duration)["rps"]
                            for name, (_, url, _) in targets.items()}
                for name, rps in measured.items():
                    rates[name].append(rps)
                ratios.append(measured["current"] / measured["base"])
            report[op] = {"base_rps": round(statistics.median(rates["base"])), "current_rps": round(statistics.median(rates["current"])),
                          "ratio_median": round(statistics.median(ratios), 3), "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)]}
            print(f"{op} @{args.connections}: current/base median {report[op]['ratio_median']} "
                  f"(range {report[op]['ratio_range'][0]}-{report[op]['ratio_range'][1]}); "
                  f"base {report[op]['base_rps']} req/s, current {report[op]['current_rps']} req/s", flush=True)
    finally:
        for process, _, _ in targets.values():
            rb.stop(process)
    print(json.dumps({"base": args.base, "rounds": args.rounds, "connections": args.connections, "results": report}))


if __name__ == "__main__":
    main()
