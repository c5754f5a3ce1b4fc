#!/usr/bin/env python3
"""KmsEmulator load benchmark.

Starts the HTTP floor app and the emulator (Release builds) on loopback, then drives both with wrk at 16 and
64 connections in one run, so the emulator's throughput can be read as a fraction of the floor measured
alongside it. Also measures start-up time to a healthy /health (second start on an existing data dir) and
idle memory (RSS) of the emulator.

Usage: bench/run_bench.py [--duration 10] [--warmup 10] [--rounds 3] [--connections 16,64] [--ops Encrypt,Decrypt,...]
                          [--log-level Information] [--strict] [--tls] [--out bench/results/latest.json]
Each connection count runs --rounds interleaved rounds (floor, every operation, then permissive and strict Encrypt);
fractions are computed within a round and their median (and range) reported, which keeps a slow spell on a shared
machine from favouring one target.
With --strict, a second emulator runs in strict mode (SigV4 verified, a 20-statement key policy evaluated) and its
Encrypt is measured right after the permissive emulator's Encrypt in each round.
With --tls, the emulator also listens on HTTPS (its generated certificate; wrk does not verify it) and Encrypt over
HTTPS is measured right after Encrypt over plain HTTP in each round, both on kept-alive connections.
Needs: wrk (apt-get install wrk), SoftHSM2, the .NET SDK. Only loopback addresses are used.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


BENCH_PRINCIPAL = {"Arn": "arn:aws:iam::111122223333:user/bench", "AccessKeyId": "AKIDBENCH", "SecretAccessKey": "bench-secret"}
STRICT = {"on": False}


def sigv4_headers(url, target, body_bytes):
    """SigV4 headers for a POST to the emulator, signed as the bench principal (strict mode)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = url.split("://", 1)[1].rstrip("/")
    canonical = "\n".join([
        "POST", "/", "",
        "content-type:application/x-amz-json-1.1", f"host:{host}", f"x-amz-date:{amz_date}", f"x-amz-target:TrentService.{target}", "",
        "content-type;host;x-amz-date;x-amz-target", hashlib.sha256(body_bytes).hexdigest()])
    scope = f"{date}/us-east-1/kms/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + BENCH_PRINCIPAL["SecretAccessKey"]).encode()
    for part in (date, "us-east-1", "kms", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={BENCH_PRINCIPAL['AccessKeyId']}/{scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}",
        "X-Amz-Date": amz_date,
    }


def twenty_statement_policy():
    """A 20-statement key policy: the account admin, the bench principal's statement and 18 statements that do not match."""
    statements = [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Bench", "Effect": "Allow", "Principal": {"AWS": BENCH_PRINCIPAL["Arn"]}, "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:Sign", "kms:Verify", "kms:GenerateMac"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": "bench"}, "Bool": {"aws:SecureTransport": "false"}}},
    ]
    for i in range(18):
        statements.append({"Sid": f"Other{i}", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{444455550000 + i}:root"},
                           "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
                           "Condition": {"StringLike": {"kms:EncryptionContext:tenant": f"tenant-{i}-*"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def kms(url, target, body):
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + target}
    if STRICT["on"]:
        headers.update(sigv4_headers(url, target, data))
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_healthy(url, process, timeout=60.0):
    """Polls /health until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError("server did not become healthy")


def wait_listening(port, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("server did not start listening")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def parse_wrk(output):
    def latency(label):
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not match:
            return None
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000.0 if unit == "us" else value * 1000.0 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    requests = re.search(r"(\d+) requests in", output)
    return {
        "rps": rps,
        "requests": int(requests.group(1)) if requests else 0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def run_wrk(url, target, body_file, connections, duration, strict=False):
    operation = target.split("-")[0]
    env = dict(os.environ, BENCH_BODY=body_file, BENCH_TARGET=operation)
    if strict:
        with open(body_file, "rb") as f:
            signed = sigv4_headers(url, operation, f.read())
        env.update(BENCH_AUTHORIZATION=signed["Authorization"], BENCH_AMZ_DATE=signed["X-Amz-Date"])
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", os.path.join(BENCH, "post.lua"), url + "/"]
    output = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    result = parse_wrk(output)
    if result["non2xx"]:
        raise RuntimeError(f"{target} at {connections} connections got {result['non2xx']} non-2xx responses")
    return result


def summarize(measured):
    """Medians over rounds (req/s, latencies and the per-round fractions), plus every round as measured."""
    def median(values):
        values = sorted(values)
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    summary = {key: median([m[key] for m in measured]) for key in ("rps", "p50_ms", "p99_ms")}
    for key in ("fraction_of_floor", "fraction_of_permissive", "fraction_of_http"):
        if key in measured[0]:
            summary[key] = round(median([m[key] for m in measured]), 3)
            summary[key + "_range"] = [round(min(m[key] for m in measured), 3), round(max(m[key] for m in measured), 3)]
    summary["rounds"] = measured
    return summary


def build(work):
    subprocess.run([os.path.join(ROOT, "tools", "publish.sh"), os.path.join(work, "emulator")], check=True)
    subprocess.run(["dotnet", "publish", os.path.join(BENCH, "HttpFloor"), "-c", "Release", "-o", os.path.join(work, "floor"), "-nologo", "-v", "quiet"], check=True)


def start(cmd, log):
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--ops", default="Encrypt,Decrypt,GenerateDataKey,Sign-RSA_2048-PSS,Sign-ECC_NIST_P256,Verify-RSA_2048-PSS,GenerateMac")
    parser.add_argument("--log-level", default="Information", help="emulator Kms:LogLevel (Information logs one line per request)")
    parser.add_argument("--strict", action="store_true", help="also run the emulator in strict mode (SigV4 verified, 20-statement key policy) and compare")
    parser.add_argument("--tls", action="store_true", help="also measure Encrypt over the emulator's HTTPS listener and compare it with plain HTTP")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per connection count; medians are reported")
    parser.add_argument("--out", default=os.path.join(BENCH, "results", "latest.json"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")

    connections = [int(c) for c in args.connections.split(",")]
    ops = args.ops.split(",")
    work = tempfile.mkdtemp(prefix="kmsemu-bench-")
    build(work)
    results = {"machine": f"{os.cpu_count()} cores, {os.uname().release}", "duration_s": args.duration, "log_level": args.log_level, "runs": []}

    # Emulator: first start creates token and store; the second start is the one timed.
    data_dir = os.path.join(work, "data")
    port = free_port()
    url = f"http://{HOST}:{port}"
    emulator_cmd = ["dotnet", os.path.join(work, "emulator", "KmsEmulator.Api.dll"), "--urls", url, "--data-dir", data_dir, f"--Kms:LogLevel={args.log_level}"]
    https_url = None
    if args.tls:
        https_port = free_port()
        https_url = f"https://{HOST}:{https_port}"
        emulator_cmd.append(f"--Kms:Tls:Port={https_port}")
    else:
        emulator_cmd.append("--Kms:Tls:Enabled=false")
    with open(os.path.join(work, "emulator-first.log"), "w") as log:
        first = start(emulator_cmd, log)
        wait_healthy(url, first)
        stop(first)
    log = open(os.path.join(work, "emulator.log"), "w")
    started = time.monotonic()
    emulator = start(emulator_cmd, log)
    wait_healthy(url, emulator)
    results["startup_to_healthy_s"] = round(time.monotonic() - started, 3)
    time.sleep(2)
    results["idle_rss_mb"] = round(rss_mb(emulator.pid), 1)

    floor_port = free_port()
    floor_url = f"http://{HOST}:{floor_port}"
    floor = start(["dotnet", os.path.join(work, "floor", "HttpFloor.dll"), "--urls", floor_url], subprocess.DEVNULL)
    strict = strict_url = None
    if args.strict:
        # A second emulator in strict mode: SigV4 verified against the bench principal's secret, policies evaluated.
        config = os.path.join(work, "strict.json")
        with open(config, "w") as f:
            principal = dict(BENCH_PRINCIPAL, IdentityPolicies=[{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}])
            json.dump({"Kms": {"Auth": {"Mode": "Strict"}, "Principals": [principal]}}, f)
        strict_url = f"http://{HOST}:{free_port()}"
        strict = start(["dotnet", os.path.join(work, "emulator", "KmsEmulator.Api.dll"), "--urls", strict_url, "--data-dir", os.path.join(work, "strict-data"),
                        f"--Kms:LogLevel={args.log_level}", "--Kms:Tls:Enabled=false", "--config", config], open(os.path.join(work, "strict.log"), "w"))
        wait_healthy(strict_url, strict)
    try:
        key = kms(url, "CreateKey", {"Description": "bench"})["KeyMetadata"]["KeyId"]
        rsa = kms(url, "CreateKey", {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"})["KeyMetadata"]["KeyId"]
        ecc = kms(url, "CreateKey", {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"})["KeyMetadata"]["KeyId"]
        hmac = kms(url, "CreateKey", {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"})["KeyMetadata"]["KeyId"]
        plaintext = base64.b64encode(b"x" * 32).decode()
        message = base64.b64encode(b"m" * 64).decode()
        context = {"purpose": "bench"}
        ciphertext = kms(url, "Encrypt", {"KeyId": key, "Plaintext": plaintext, "EncryptionContext": context})["CiphertextBlob"]
        rsa_signature = kms(url, "Sign", {"KeyId": rsa, "Message": message, "SigningAlgorithm": "RSASSA_PSS_SHA_256"})["Signature"]
        bodies = {
            "Floor": {"KeyId": key, "Plaintext": plaintext, "EncryptionContext": context},
            "Encrypt": {"KeyId": key, "Plaintext": plaintext, "EncryptionContext": context},
            "Decrypt": {"CiphertextBlob": ciphertext, "EncryptionContext": context},
            "GenerateDataKey": {"KeyId": key, "KeySpec": "AES_256", "EncryptionContext": context},
            "Sign-RSA_2048-PSS": {"KeyId": rsa, "Message": message, "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
            "Sign-ECC_NIST_P256": {"KeyId": ecc, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"},
            "Verify-RSA_2048-PSS": {"KeyId": rsa, "Message": message, "Signature": rsa_signature, "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
            "GenerateMac": {"KeyId": hmac, "Message": message, "MacAlgorithm": "HMAC_SHA_256"},
        }
        if strict:
            STRICT["on"] = True
            strict_key = kms(strict_url, "CreateKey", {"Description": "bench strict", "Policy": twenty_statement_policy()})["KeyMetadata"]["KeyId"]
            STRICT["on"] = False
            bodies["Encrypt-strict"] = {"KeyId": strict_key, "Plaintext": plaintext, "EncryptionContext": context}
        for name, body in bodies.items():
            with open(os.path.join(work, name + ".json"), "w") as f:
                json.dump(body, f)

        wait_listening(floor_port, floor)
        # Warm both servers (JIT tiering) before measuring.
        run_wrk(floor_url, "Encrypt", os.path.join(work, "Floor.json"), 16, args.warmup)
        for op in ops:
            run_wrk(url, op, os.path.join(work, op + ".json"), 16, max(2, args.warmup // len(ops)))
        if strict:
            run_wrk(strict_url, "Encrypt", os.path.join(work, "Encrypt-strict.json"), 16, args.warmup, strict=True)
        if https_url:
            run_wrk(https_url, "Encrypt", os.path.join(work, "Encrypt.json"), 16, args.warmup)

        # Each round measures every target once, in the same order; rounds interleave, so a slow spell on a shared
        # machine touches every target alike. Fractions are taken within a round; the report gives their medians.
        for c in connections:
            rounds = {}
            for _ in range(args.rounds):
                floor_result = run_wrk(floor_url, "Encrypt", os.path.join(work, "Floor.json"), c, args.duration)
                rounds.setdefault("HTTP floor", []).append(floor_result)
                for op in ops:
                    r = run_wrk(url, op, os.path.join(work, op + ".json"), c, args.duration)
                    r["fraction_of_floor"] = r["rps"] / floor_result["rps"]
                    rounds.setdefault(op, []).append(r)
                if https_url:
                    plain = run_wrk(url, "Encrypt", os.path.join(work, "Encrypt.json"), c, args.duration)
                    r = run_wrk(https_url, "Encrypt", os.path.join(work, "Encrypt.json"), c, args.duration)
                    r["fraction_of_floor"] = r["rps"] / floor_result["rps"]
                    r["fraction_of_http"] = r["rps"] / plain["rps"]
                    rounds.setdefault("Encrypt over HTTPS (TLS, kept-alive)", []).append(r)
                if strict:
                    permissive = run_wrk(url, "Encrypt", os.path.join(work, "Encrypt.json"), c, args.duration)
                    r = run_wrk(strict_url, "Encrypt", os.path.join(work, "Encrypt-strict.json"), c, args.duration, strict=True)
                    r["fraction_of_floor"] = r["rps"] / floor_result["rps"]
                    r["fraction_of_permissive"] = r["rps"] / permissive["rps"]
                    rounds.setdefault("Encrypt (strict: SigV4 + 20-statement key policy)", []).append(r)
            for target, measured in rounds.items():
                results["runs"].append({"target": target, "connections": c, **summarize(measured)})
        results["rss_after_load_mb"] = round(rss_mb(emulator.pid), 1)
    finally:
        stop(floor)
        stop(emulator)
        if strict:
            stop(strict)
        log.close()

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)

    print(f"machine: {results['machine']}; emulator log level {args.log_level}; {args.rounds} interleaved rounds of {args.duration}s per target, medians")
    print(f"start-up to healthy /health (second start): {results['startup_to_healthy_s']} s; idle RSS {results['idle_rss_mb']} MB; RSS after load {results['rss_after_load_mb']} MB")
    print("| target | connections | req/s | fraction of floor (min–max over rounds) | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results["runs"]:
        fraction = f"{r['fraction_of_floor']:.2f} ({r['fraction_of_floor_range'][0]:.2f}–{r['fraction_of_floor_range'][1]:.2f})" if "fraction_of_floor" in r else "1.00"
        note = ""
        if "fraction_of_permissive" in r:
            low, high = r["fraction_of_permissive_range"]
            note = f"; vs permissive Encrypt in the same round: {r['fraction_of_permissive']:.2f} ({low:.2f}–{high:.2f})"
        if "fraction_of_http" in r:
            low, high = r["fraction_of_http_range"]
            note = f"; vs Encrypt over plain HTTP in the same round: {r['fraction_of_http']:.2f} ({low:.2f}–{high:.2f})"
        print(f"| {r['target']}{note} | {r['connections']} | {r['rps']:,.0f} | {fraction} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
