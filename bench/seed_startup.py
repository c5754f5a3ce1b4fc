#!/usr/bin/env python3
"""Start-up time with a seed file of N keys (issue 12: 100 keys under 2 s).

Writes a JSON seed of N SYMMETRIC_DEFAULT keys (each with an alias, two tags and a description), starts the built
emulator (Release) on a fresh data directory and measures, from process start, the time until it logs
"KmsEmulator listening" (the seed is applied before that line); then restarts it on the same data directory (the
seed is compared and nothing is created) and measures again. Runs the build tools/run.sh runs (tools/publish.sh,
ReadyToRun, into artifacts/emulator); publish first, or name another with --app.

    python3 bench/seed_startup.py [--keys 100] [--runs 3]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DLL = os.path.join(ROOT, "artifacts/emulator/KmsEmulator.Api.dll")


def start(app, data_dir, seed):
    args = ["dotnet", app, "--urls", "http://127.0.0.1:0", "--Kms:Tls:Enabled=false", "--data-dir", data_dir, "--seed", seed]
    began = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "KmsEmulator listening" in line:
            elapsed = time.monotonic() - began
            proc.terminate()
            proc.wait(timeout=30)
            return elapsed
    raise SystemExit(f"the emulator exited ({proc.wait()}) before listening")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--app", default=DLL, help="the KmsEmulator.Api.dll to start")
    options = parser.parse_args()
    subprocess.run([os.path.join(ROOT, "tools/ensure-softhsm.sh")], check=True)
    work = tempfile.mkdtemp(prefix="kmsemu-seed-bench-")
    try:
        seed = os.path.join(work, "seed.json")
        keys = [{"KeyId": str(uuid.UUID(int=i + 1, version=4)), "Description": f"seeded key {i}",
                 "Aliases": [f"alias/seeded-{i}"], "Tags": {"team": "bench", "index": str(i)}} for i in range(options.keys)]
        with open(seed, "w") as f:
            json.dump({"Keys": keys}, f)
        for run in range(options.runs):
            data_dir = os.path.join(work, f"data-{run}")
            first = start(options.app, data_dir, seed)
            again = start(options.app, data_dir, seed)
            print(f"run {run + 1}: {options.keys} keys created {first:.2f} s, restart with the seed unchanged {again:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
