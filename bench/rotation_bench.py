#!/usr/bin/env python3
"""Decrypt under the oldest of 10 material versions against the newest, and Encrypt with rotation on against off.

Publishes the working tree, starts it on loopback (permissive mode), makes one key with 10 material versions
(RotateKeyOnDemand 9 times, with a ciphertext made under each version) and one key with automatic rotation on, and a
plain key; then wrk drives, in --rounds interleaved rounds: Decrypt of the oldest version's ciphertext, Decrypt of the
newest's; Encrypt under the rotating key, Encrypt under the plain key. Reports the medians of the per-round ratios.

Usage: bench/rotation_bench.py [--connections 16] [--duration 5] [--rounds 5] [--work /var/tmp/kms-rotation-bench]
Needs: wrk, SoftHSM2, the .NET SDK. Only loopback addresses are used.
"""
import argparse
import base64
import json
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402
import compare_commits as cc  # noqa: E402


def write_body(work, name, body):
    path = os.path.join(work, f"{name}.json")
    with open(path, "w") as f:
        json.dump(body, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kms-rotation-bench"))
    args = parser.parse_args()

    os.makedirs(args.work, exist_ok=True)
    shutil.rmtree(os.path.join(args.work, "data"), ignore_errors=True)
    build = os.path.join(args.work, "build")
    cc.publish(rb.ROOT, build)
    port = rb.free_port()
    url = f"http://{rb.HOST}:{port}"
    log = open(os.path.join(args.work, "emulator.log"), "ab")
    process = rb.start(["dotnet", os.path.join(build, "KmsEmulator.Api.dll"), "--urls", url, "--Kms:Tls:Enabled=false", "--data-dir",
                        os.path.join(args.work, "data"), "--Kms:LogLevel=Warning"], log)
    try:
        rb.wait_healthy(url, process, timeout=120)
        plaintext = base64.b64encode(b"x" * 32).decode()
        versioned = rb.kms(url, "CreateKey", {})["KeyMetadata"]["KeyId"]
        blobs = [rb.kms(url, "Encrypt", {"KeyId": versioned, "Plaintext": plaintext})["CiphertextBlob"]]
        for _ in range(9):
            rb.kms(url, "RotateKeyOnDemand", {"KeyId": versioned})
            blobs.append(rb.kms(url, "Encrypt", {"KeyId": versioned, "Plaintext": plaintext})["CiphertextBlob"])
        rotating = rb.kms(url, "CreateKey", {})["KeyMetadata"]["KeyId"]
        rb.kms(url, "EnableKeyRotation", {"KeyId": rotating, "RotationPeriodInDays": 90})
        plain = rb.kms(url, "CreateKey", {})["KeyMetadata"]["KeyId"]
        bodies = {
            "decrypt-oldest": write_body(args.work, "decrypt-oldest", {"CiphertextBlob": blobs[0]}),
            "decrypt-newest": write_body(args.work, "decrypt-newest", {"CiphertextBlob": blobs[-1]}),
            "encrypt-rotating": write_body(args.work, "encrypt-rotating", {"KeyId": rotating, "Plaintext": plaintext}),
            "encrypt-plain": write_body(args.work, "encrypt-plain", {"KeyId": plain, "Plaintext": plaintext}),
        }
        for name in bodies:  # warm-up
            rb.run_wrk(url, name.split("-")[0].capitalize(), bodies[name], args.connections, 2)

        report = {}
        for first, second, operation in (("decrypt-oldest", "decrypt-newest", "Decrypt"), ("encrypt-rotating", "encrypt-plain", "Encrypt")):
            ratios, rates = [], {first: [], second: []}
            for _ in range(args.rounds):
                a = rb.run_wrk(url, operation, bodies[first], args.connections, args.duration)["rps"]
                b = rb.run_wrk(url, operation, bodies[second], args.connections, args.duration)["rps"]
                rates[first].append(a)
                rates[second].append(b)
                ratios.append(a / b)
            report[f"{first}/{second}"] = {"median": round(statistics.median(ratios), 3), "range": [round(min(ratios), 3), round(max(ratios), 3)],
                                           first: round(statistics.median(rates[first])), second: round(statistics.median(rates[second]))}
            r = report[f"{first}/{second}"]
            print(f"{first}/{second} @{args.connections}: median {r['median']} (range {r['range'][0]}-{r['range'][1]}); "
                  f"{first} {r[first]} req/s, {second} {r[second]} req/s", flush=True)
        print(json.dumps({"rounds": args.rounds, "duration": args.duration, "connections": args.connections, "results": report}))
    finally:
        rb.stop(process)


if __name__ == "__main__":
    main()
