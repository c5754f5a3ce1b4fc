#!/usr/bin/env python3
"""KmsEmulator at many keys: start-up time, memory, first use of a key after a restart, and throughput.

Fills a data directory per requested size with symmetric keys through the KMS API (CreateKey from parallel clients),
then restarts the emulator on it and measures:
  - start-up: process start to a healthy /health (store load, HSM index of every token object, reconciliation);
  - RSS right after start-up;
  - first use: Encrypt on a key not used since the restart, then Encrypt again on the same key (warm), for a random
    sample of keys, one request at a time; reported as medians and p99, and the median extra cost of the first use;
  - throughput: wrk Encrypt on one key at 16 connections, in --rounds interleaved rounds against this emulator and
    one on a data directory with two keys (both running, only one loaded at a time); the median of the per-round
    ratios is reported.
The data directories are kept (--work), so a later run reuses them instead of filling them again.

Usage: bench/key_scale.py [--sizes 10000,100000] [--work /var/tmp/kms-scale] [--threads 8] [--sample 300]
                          [--duration 8] [--rounds 3] [--out bench/results/key-scale.json]
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
    process = rb.start(["dotnet", os.path.join(work, "emulator", "KmsEmulator.Api.dll"), "--urls", url, "--Kms:Tls:Enabled=false", "--data-dir", data_dir,
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

    if sample <= 0:
        return None
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


def encrypt_body(work, name, key_id):
    body = os.path.join(work, f"encrypt-{name}.json")
    with open(body, "w") as f:
        json.dump({"KeyId": key_id, "Plaintext": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}, f)
    return body


def read_keys(keys_file):
    with open(keys_file) as f:
        return [line.strip() for line in f if line.strip()]


def measure(work, data_dir, keys_file, port, sample, label):
    """Start-up, memory and first use of a data directory; the emulator is left running for the throughput rounds."""
    process, url, startup = start_emulator(work, data_dir, port, f"{label}.log")
    rss = rb.rss_mb(process.pid)
    key_ids = read_keys(keys_file)
    uses = first_use(url, key_ids, sample) if len(key_ids) > 1 else None
    return process, url, {"keys": len(key_ids), "startup_to_healthy_s": round(startup, 3), "rss_after_start_mb": round(rss, 1), "first_use": uses}


def interleaved_throughput(work, small, large, duration, rounds):
    """(url, key id) pairs; returns the large emulator's req/s and p99 and its ratio to the small one, medians over rounds."""
    bodies = {name: encrypt_body(work, name, key_id) for name, (_, key_id) in (("small", small), ("large", large))}
    for name, (url, _) in (("small", small), ("large", large)):
        rb.run_wrk(url, "Encrypt", bodies[name], 16, 3)  # warm-up
    measured = []
    for _ in range(rounds):
        s = rb.run_wrk(small[0], "Encrypt", bodies["small"], 16, duration)
        l = rb.run_wrk(large[0], "Encrypt", bodies["large"], 16, duration)
        measured.append({"small_rps": s["rps"], "large_rps": l["rps"], "ratio": l["rps"] / s["rps"], "large_p99_ms": l["p99_ms"]})
    return {
        "encrypt_rps": statistics.median(m["large_rps"] for m in measured),
        "encrypt_rps_small_store": statistics.median(m["small_rps"] for m in measured),
        "encrypt_rps_vs_small_store": round(statistics.median(m["ratio"] for m in measured), 3),
        "ratio_range": [round(min(m["ratio"] for m in measured), 3), round(max(m["ratio"] for m in measured), 3)],
        "encrypt_p99_ms": statistics.median(m["large_p99_ms"] for m in measured),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kms-key-scale"))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
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

    # Baseline: a data directory with two keys, measured in the same run.
    small = os.path.join(args.work, "small")
    small_keys = os.path.join(args.work, "small-keys.txt")
    open(small_keys, "a").close()
    process, url, _ = start_emulator(args.work, small, port, "small-fill.log")
    try:
        fill(url, small_keys, 2, 1)
    finally:
        rb.stop(process)

    for size in [int(s) for s in args.sizes.split(",")]:
        data_dir = os.path.join(args.work, f"large-{size}")
        keys_file = os.path.join(args.work, f"large-{size}-keys.txt")
        open(keys_file, "a").close()
        process, url, _ = start_emulator(args.work, data_dir, port, "large-fill.log")
        try:
            rate = fill(url, keys_file, size, args.threads)
        finally:
            rb.stop(process)
        small_process, small_url, baseline = measure(args.work, small, small_keys, rb.free_port(), 0, "small")
        large_process, large_url, result = measure(args.work, data_dir, keys_file, port, args.sample, f"large-{size}")
        try:
            result.update(interleaved_throughput(args.work, (small_url, read_keys(small_keys)[0]),
                                                 (large_url, read_keys(keys_file)[0]), args.duration, args.rounds))
        finally:
            rb.stop(small_process)
            rb.stop(large_process)
        result["create_keys_per_s"] = round(rate, 1) if rate else None
        result["small_store"] = baseline
        results["sizes"].append(result)
        print(f"{size} keys: {json.dumps(result)}", flush=True)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
