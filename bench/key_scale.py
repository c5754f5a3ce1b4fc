#!/usr/bin/env python3
"""KmsEmulator at many keys: start-up time, memory, first use of a key after a restart, and throughput.

Fills one data directory with symmetric keys through the KMS API (CreateKey from parallel clients), and at each
requested size restarts the emulator and measures:
  - start-up: process start to a healthy /health (store load, HSM index of every token object, reconciliation);
  - RSS right after start-up;
  - first use: Encrypt on a key not used since the restart, then Encrypt again on the same key (warm), for a random
    sample of keys, one request at a time; reported as medians and p99, and the median extra cost of the first use;
  - throughput: wrk Encrypt on one key at 16 connections, compared with the same measurement on a data directory
    with two keys in the same run.
The data directory is kept (--work), so a later run continues filling it instead of starting again.

Usage: bench/key_scale.py [--sizes 10000,100000] [--work /var/tmp/kms-scale] [--threads 8] [--sample 300]
                          [--duration 8] [--out bench/results/key-scale.json]
Needs: wrk, SoftHSM2, the .NET SDK. Only loopback addresses are used.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402  (shared helpers: build, start, stop, kms, wait_healthy, rss_mb, run_wrk)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def start_emulator(work, data_dir, port, log_name):
    url = f"http://{rb.HOST}:{port}"
    log = open(os.path.join(work, log_name), "ab")
    started = time.monotonic()
    process = rb.start(["dotnet", os.path.join(work, "emulator", "KmsEmulator.Api.dll"), "--urls", url, "--data-dir", data_dir,
                        "--Kms:LogLevel=Warning"], log)
    rb.wait_healthy(url, process, timeout=1800)
    return process, url, time.monotonic() - started


def fill(url, keys_file, target, threads):
    """Creates keys until the file lists `target` of them; returns keys per second."""
    with open(keys_file) as f:
        have = sum(1 for _ in f)
    missing = target - have
    if missing <= 0:
        return None
    lock = threading.Lock()
    counter = {"left": missing}

    def worker():
        with open(keys_file, "a") as out:
            while True:
                with lock:
                    if counter["left"] == 0:
                        return
                    counter["left"] -= 1
                key_id = rb.kms(url, "CreateKey", {"Description": "scale"})["KeyMetadata"]["KeyId"]
                with lock:
                    out.write(key_id + "\n")
                    out.flush()

    started = time.monotonic()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    last = time.monotonic()
    while any(w.is_alive() for w in workers):
        time.sleep(5)
        if time.monotonic() - last > 60:
            last = time.monotonic()
            print(f"  ... {missing - counter['left']} of {missing} created", flush=True)
    for w in workers:
        w.join()
    return missing / (time.monotonic() - started)


def first_use(url, key_ids, sample):
    def encrypt(key_id):
        started = time.perf_counter()
        rb.kms(url, "Encrypt", {"KeyId": key_id, "Plaintext": "c2NhbGU="})
        return (time.perf_counter() - started) * 1000.0

    # Warm the server (JIT, connection handling) on one key, which is then left out of the sample.
    for _ in range(200):
        encrypt(key_ids[0])
    first, warm = [], []
    for key_id in random.sample(key_ids[1:], min(sample, len(key_ids) - 1)):
        first.append(encrypt(key_id))
        warm.append(encrypt(key_id))
    extra = [f - w for f, w in zip(first, warm)]
    return {
        "sample": len(first),
        "first_median_ms": round(statistics.median(first), 3),
        "first_p99_ms": round(percentile(first, 0.99), 3),
        "warm_median_ms": round(statistics.median(warm), 3),
        "warm_p99_ms": round(percentile(warm, 0.99), 3),
        "extra_median_ms": round(statistics.median(extra), 3),
        "extra_p90_ms": round(percentile(extra, 0.90), 3),
    }


def throughput(work, url, key_id, duration):
    body = os.path.join(work, "encrypt.json")
    with open(body, "w") as f:
        json.dump({"KeyId": key_id, "Plaintext": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}, f)
    rb.run_wrk(url, "Encrypt", body, 16, 3)  # warm-up
    return rb.run_wrk(url, "Encrypt", body, 16, duration)


def measure(work, data_dir, keys_file, port, duration, sample, label):
    process, url, startup = start_emulator(work, data_dir, port, f"{label}.log")
    try:
        rss = rb.rss_mb(process.pid)
        with open(keys_file) as f:
            key_ids = [line.strip() for line in f if line.strip()]
        uses = first_use(url, key_ids, sample)
        wrk = throughput(work, url, key_ids[0], duration)
        return {"keys": len(key_ids), "startup_to_healthy_s": round(startup, 3), "rss_after_start_mb": round(rss, 1),
                "first_use": uses, "encrypt_rps": wrk["rps"], "encrypt_p99_ms": wrk["p99_ms"]}
    finally:
        rb.stop(process)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kms-key-scale"))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--out", default=os.path.join(rb.BENCH, "results", "key-scale.json"))
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()

    os.makedirs(args.work, exist_ok=True)
    if not args.skip_build:
        subprocess.run(["dotnet", "publish", os.path.join(rb.ROOT, "src/KmsEmulator.Api"), "-c", "Release",
                        "-o", os.path.join(args.work, "emulator"), "-nologo", "-v", "quiet"], check=True)
    port = rb.free_port()
    results = {"date": time.strftime("%Y-%m-%d"), "commit": subprocess.run(["git", "-C", rb.ROOT, "rev-parse", "--short", "HEAD"],
               capture_output=True, text=True).stdout.strip(), "sizes": []}

    # Baseline: a data directory with one key, measured in the same run.
    small = os.path.join(args.work, "small")
    small_keys = os.path.join(args.work, "small-keys.txt")
    open(small_keys, "a").close()
    process, url, _ = start_emulator(args.work, small, port, "small-fill.log")
    try:
        fill(url, small_keys, 2, 1)
    finally:
        rb.stop(process)
    results["baseline"] = measure(args.work, small, small_keys, port, args.duration, 1, "small")
    print(f"baseline (2 keys): {results['baseline']}", flush=True)

    data_dir = os.path.join(args.work, "large")
    keys_file = os.path.join(args.work, "large-keys.txt")
    open(keys_file, "a").close()
    for size in [int(s) for s in args.sizes.split(",")]:
        process, url, _ = start_emulator(args.work, data_dir, port, "large-fill.log")
        try:
            rate = fill(url, keys_file, size, args.threads)
        finally:
            rb.stop(process)
        result = measure(args.work, data_dir, keys_file, port, args.duration, args.sample, f"large-{size}")
        result["create_keys_per_s"] = round(rate, 1) if rate else None
        result["encrypt_rps_vs_baseline"] = round(result["encrypt_rps"] / results["baseline"]["encrypt_rps"], 3)
        results["sizes"].append(result)
        print(f"{size} keys: {result}", flush=True)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
