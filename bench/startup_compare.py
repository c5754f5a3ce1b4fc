#!/usr/bin/env python3
"""Start-up of several published builds on one data directory, interleaved: start to a healthy /health, and CPU.

Starts each build in turn (process start, then GET /health every 10 ms until it answers 200), reads the process's
CPU time (utime + stime from /proc) at that moment, stops it, and repeats --passes times, builds interleaved so that a
shared machine's speed affects them alike. Reports every time and the median per build.

Usage: bench/startup_compare.py --data-dir DIR [--passes 3] [--starts 2] BUILD_DIR [BUILD_DIR ...]
  BUILD_DIR holds KmsEmulator.Api.dll (tools/publish.sh DIR, or dotnet publish). DIR is an existing data directory,
  for example one filled by bench/key_scale.py. Only loopback addresses are used.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402  (free_port, HOST)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start_once(build, data_dir):
    port = rb.free_port()
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    started = time.monotonic()
    process = subprocess.Popen(["dotnet", os.path.join(build, "KmsEmulator.Api.dll"), "--urls", f"http://{rb.HOST}:{port}",
                                "--Kms:Tls:Enabled=false", "--data-dir", data_dir, "--Kms:LogLevel=Warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{build} exited with {process.returncode} before it was healthy")
            try:
                with urllib.request.urlopen(f"http://{rb.HOST}:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.01)
        return time.monotonic() - started, cpu_seconds(process.pid)
    finally:
        process.terminate()
        process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--starts", type=int, default=2, help="starts of each build per pass")
    parser.add_argument("builds", nargs="+")
    args = parser.parse_args()
    results = {build: [] for build in args.builds}
    for _ in range(args.passes):
        for build in args.builds:
            for _ in range(args.starts):
                results[build].append(start_once(build, args.data_dir))
    for build, runs in results.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        print(f"{build}: start to healthy {' '.join(f'{w:.2f}' for w in walls)} s, median {statistics.median(walls):.2f} s; "
              f"CPU {min(cpus):.2f}-{max(cpus):.2f} s, median {statistics.median(cpus):.2f} s")


if __name__ == "__main__":
    main()
