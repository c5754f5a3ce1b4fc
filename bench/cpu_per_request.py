#!/usr/bin/env python3
"""Server CPU per Encrypt request of several emulator configurations, interleaved: a measure that holds on a busy machine.

Starts each configuration (a published build and extra emulator arguments) on loopback with its own data directory
and one symmetric key, warms each up, then in --rounds interleaved rounds drives Encrypt with wrk for --duration
seconds and reads the emulator's CPU time (utime + stime from /proc) and context switches (all threads) around it.
Reports the median CPU per request with its range. wrk's own CPU is not counted, so other load on the machine changes
throughput far more than these figures.

Usage: bench/cpu_per_request.py [--connections 64] [--rounds 4] [--duration 5] [--warmup 20] [--work DIR]
                                NAME=BUILD_DIR[,ARG,ARG...] [NAME=BUILD_DIR[,ARG...] ...]
  e.g. on=artifacts/emulator off=artifacts/emulator,--Kms:Audit:Enabled=false
Needs: wrk, SoftHSM2, the .NET SDK. Only loopback addresses are used.
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402
import compare_commits as cc  # noqa: E402  (body files)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def context_switches(pid):
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as status:
                for line in status:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kms-cpu-per-request"))
    parser.add_argument("configs", nargs="+")
    args = parser.parse_args()
    cc.fresh_work(args.work)
    configs = {}
    for config in args.configs:
        name, _, rest = config.partition("=")
        build, *extra = rest.split(",")
        configs[name] = (build, extra)
    instances = {}
    try:
        for name, (build, extra) in configs.items():
            process, url, key = cc.start(args.work, name, build, extra)
            instances[name] = (process, url, cc.body_file(args.work, name, "Encrypt", url, key))
        for process, url, body in instances.values():
            rb.run_wrk(url, "Encrypt", body, args.connections, args.warmup)
        cpu = {name: [] for name in instances}
        switches = {name: [] for name in instances}
        for _ in range(args.rounds):
            for name, (process, url, body) in instances.items():
                cpu0, switches0 = cpu_seconds(process.pid), context_switches(process.pid)
                result = rb.run_wrk(url, "Encrypt", body, args.connections, args.duration)
                cpu1, switches1 = cpu_seconds(process.pid), context_switches(process.pid)
                requests = max(1, result["requests"] or result["rps"] * args.duration)
                cpu[name].append(1e6 * (cpu1 - cpu0) / requests)
                switches[name].append((switches1 - switches0) / requests)
        for name in instances:
            values = cpu[name]
            print(f"{name}: server CPU per request median {statistics.median(values):.1f} us "
                  f"(range {min(values):.1f}-{max(values):.1f}); context switches per request {statistics.median(switches[name]):.2f}")
    finally:
        for process, _, _ in instances.values():
            rb.stop(process)


if __name__ == "__main__":
    main()
