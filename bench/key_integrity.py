#!/usr/bin/env python3
"""Keys made by many parallel clients stay whole: a count of bad keys, checked three ways.

1. --clients boto3 clients (one thread each) create --keys keys of every type at once, and use each key right after
   creating it (Encrypt/Decrypt, GenerateMac/VerifyMac, Sign/Verify, DeriveSharedSecret): a key that fails is bad.
2. The emulator is stopped and started again on the same data directory: /health must say "ready" with no missing or
   defective key material, and every key is used again.
3. With the emulator stopped, pkcs11-tool (OpenSC) lists every object on the token, outside our code: every secret
   and private key must be sensitive, always sensitive, never extractable and not extractable.

Prints a JSON summary and exits non-zero when any key is bad. Only loopback addresses are used.

Usage: bench/key_integrity.py [--keys 5040] [--clients 16] [--work /var/tmp/kms-integrity] [--skip-build]
                              [--out bench/results/key-integrity.json]
Needs: SoftHSM2, python3-boto3, pkcs11-tool (apt-get install opensc), the .NET SDK.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
from botocore.config import Config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402  (shared helpers: free_port, start, stop, wait_healthy)

KINDS = [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ("HMAC_512", "GENERATE_VERIFY_MAC"),
    ("ECC_NIST_P256", "SIGN_VERIFY"),
    ("ECC_NIST_P384", "KEY_AGREEMENT"),
    ("ECC_SECG_P256K1", "SIGN_VERIFY"),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
    ("RSA_2048", "ENCRYPT_DECRYPT"),
    ("RSA_2048", "SIGN_VERIFY"),
]
SIGNING = {"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_SECG_P256K1": "ECDSA_SHA_256",
           "ECC_NIST_EDWARDS25519": "ED25519_SHA_512", "RSA_2048": "RSASSA_PSS_SHA_256"}


def client(url):
    return boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIDINTEGRITY",
                        aws_secret_access_key="integrity-secret",
                        config=Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60))


def round_trip(kms, key_id, spec, usage):
    """Uses the key as its type allows; raises when any step fails or answers wrongly."""
    message = f"integrity {key_id}".encode()
    if usage == "ENCRYPT_DECRYPT" and spec == "SYMMETRIC_DEFAULT":
        blob = kms.encrypt(KeyId=key_id, Plaintext=message)["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == message, "decrypted to something else"
    elif usage == "ENCRYPT_DECRYPT":
        blob = kms.encrypt(KeyId=key_id, Plaintext=message[:64], EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
        plain = kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"]
        assert plain == message[:64], "decrypted to something else"
    elif usage == "GENERATE_VERIFY_MAC":
        algorithm = "HMAC_SHA_256" if spec == "HMAC_256" else "HMAC_SHA_512"
        mac = kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm)["Mac"]
        assert kms.verify_mac(KeyId=key_id, Message=message, Mac=mac, MacAlgorithm=algorithm)["MacValid"], "MAC invalid"
    elif usage == "SIGN_VERIFY":
        algorithm = SIGNING[spec]
        signature = kms.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm=algorithm)["Signature"]
        assert kms.verify(KeyId=key_id, Message=message, MessageType="RAW", Signature=signature,
                          SigningAlgorithm=algorithm)["SignatureValid"], "signature invalid"
    else:
        peer = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        secret = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer)["SharedSecret"]
        assert len(secret) == 48, "shared secret of the wrong length"


def run_parallel(url, clients, work_items, action):
    """Runs action(kms, item) for every item on `clients` threads, each with its own client of the emulator at url; returns the list of (item, error) that failed."""
    lock = threading.Lock()
    queue = list(work_items)
    failures = []

    def worker(kms):
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            try:
                action(kms, item)
            except Exception as error:  # noqa: BLE001 (every failure is a bad key, whatever its kind)
                with lock:
                    failures.append((item, f"{type(error).__name__}: {error}"))

    threads = [threading.Thread(target=worker, args=(client(url),)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def health(url):
    with urllib.request.urlopen(url + "/health", timeout=10) as response:
        return json.loads(response.read())


def token_scan(data_dir, token_label, pin):
    """Lists the token with pkcs11-tool; returns (keys seen, list of keys that are extractable or not sensitive)."""
    module = next(p for p in ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                              "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"] if os.path.exists(p))
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(data_dir, "softhsm", "softhsm2.conf"))
    listing = subprocess.run(["pkcs11-tool", "--module", module, "--token-label", token_label, "--login", "--pin", pin,
                              "--list-objects"], env=env, capture_output=True, text=True, check=True).stdout
    seen, bad = 0, []
    for block in re.split(r"\n(?=\S)", listing):
        if not (block.startswith("Secret Key Object") or block.startswith("Private Key Object")):
            continue
        seen += 1
        access = re.search(r"Access:\s*(.*)", block)
        flags = {f.strip() for f in access.group(1).split(",")} if access else set()
        label = re.search(r"label:\s*(.*)", block)
        if not {"sensitive", "always sensitive", "never extractable"} <= flags or "extractable" in flags:
            bad.append({"label": label.group(1).strip() if label else "?", "access": sorted(flags)})
    return seen, bad


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=5040)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kms-integrity"))
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--out", default=os.path.join(rb.BENCH, "results", "key-integrity.json"))
    args = parser.parse_args()

    os.makedirs(args.work, exist_ok=True)
    if not args.skip_build:
        subprocess.run(["dotnet", "publish", os.path.join(rb.ROOT, "src/KmsEmulator.Api"), "-c", "Release",
                        "-o", os.path.join(args.work, "emulator"), "-nologo", "-v", "quiet"], check=True)
    data_dir = os.path.join(args.work, "data")
    shutil.rmtree(data_dir, ignore_errors=True)
    port = rb.free_port()
    url = f"http://{rb.HOST}:{port}"
    log = open(os.path.join(args.work, "emulator.log"), "ab")

    def start():
        process = rb.start(["dotnet", os.path.join(args.work, "emulator", "KmsEmulator.Api.dll"), "--urls", url, "--Kms:Tls:Enabled=false",
                            "--data-dir", data_dir, "--Kms:LogLevel=Warning"], log)
        rb.wait_healthy(url, process, timeout=600)
        return process

    created = []
    created_lock = threading.Lock()

    def create_and_use(kms, index):
        spec, usage = KINDS[index % len(KINDS)]
        key_id = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
        with created_lock:
            created.append((key_id, spec, usage))
        round_trip(kms, key_id, spec, usage)

    process = start()
    started = time.monotonic()
    try:
        first = run_parallel(url, args.clients, range(args.keys), create_and_use)
    finally:
        rb.stop(process)
    seconds = time.monotonic() - started

    process = start()
    try:
        after_restart = health(url)
        second = run_parallel(url, args.clients, created, lambda kms, key: round_trip(kms, *key))
    finally:
        rb.stop(process)

    objects, unsafe = token_scan(data_dir, "kms-emulator", "1234")
    bad_keys = {str(item) for item, _ in first} | {key[0] for key, _ in second}
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": subprocess.run(["git", "-C", rb.ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "clients": args.clients,
        "keys_requested": args.keys,
        "keys_created": len(created),
        "create_and_use_seconds": round(seconds, 1),
        "failed_when_new": len(first),
        "failed_after_restart": len(second),
        "health_after_restart": after_restart,
        "token_secret_and_private_key_objects": objects,
        "token_objects_extractable_or_not_sensitive": len(unsafe),
        "bad_keys": len(bad_keys),
        "examples": [f"{item}: {error}" for item, error in (first + second)[:5]] + [json.dumps(u) for u in unsafe[:5]],
    }
    print(json.dumps(summary, indent=2))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=2)
    ok = (not bad_keys and not unsafe and len(created) == args.keys and after_restart.get("status") == "ready")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
