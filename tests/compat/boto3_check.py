#!/usr/bin/env python3
"""Client-compatibility check: boto3 / botocore against a running KmsEmulator.

Usage: /usr/bin/python3 tests/compat/boto3_check.py <endpoint-url>

Exits 0 when every assertion holds; otherwise prints "FAIL: ..." and exits 1.
Works with Debian's python3-boto3 (botocore 1.29) and with newer botocore.
"""

import datetime
import json
import os
import sys
import time
import traceback
import uuid

START = time.monotonic()

try:
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"FAIL: boto3 is not importable with {sys.executable}: {exc}", file=sys.stderr)
    sys.exit(1)


class CheckFailed(Exception):
    pass


CHECKS = 0


def check(condition, message):
    global CHECKS
    if not condition:
        raise CheckFailed(message)
    CHECKS += 1


def eq(what, expected, actual):
    check(expected == actual, f"{what}: expected {expected!r}, got {actual!r}")


def expect_error(code, call, *args, **kwargs):
    """Run call(*args, **kwargs); it must raise a ClientError whose code is `code`."""
    try:
        result = call(*args, **kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        eq(f"{call.__name__} error code", code, error.get("Code"))
        # AWS KMS itself sends InvalidCiphertextException without a message.
        if code != "InvalidCiphertextException":
            check(error.get("Message"), f"{call.__name__} {code}: error message is empty")
        status = meta.get("HTTPStatusCode")
        check(status is not None and 400 <= status < 500,
              f"{call.__name__} {code}: expected a 4xx status, got {status}")
        check(meta.get("RequestId"), f"{call.__name__} {code}: no RequestId in the error response")
        return exc
    raise CheckFailed(f"{call.__name__} succeeded but {code} was expected: {result!r}")


def near(what, when, expected_delta, tolerance):
    now = datetime.datetime.now(datetime.timezone.utc)
    check(isinstance(when, datetime.datetime), f"{what}: not parsed as a datetime: {when!r}")
    delta = (when - now).total_seconds() - expected_delta.total_seconds()
    check(abs(delta) <= tolerance.total_seconds(),
          f"{what}: {when.isoformat()} is {delta:+.0f}s away from now{expected_delta and ' + ' + str(expected_delta) or ''}")


def make_client(endpoint):
    # Keep the user's ~/.aws files and any real credentials out of it.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    session = boto3.session.Session(
        aws_access_key_id="AKIDCOMPATBOTO3",
        aws_secret_access_key="compat-boto3-secret",
        region_name="us-east-1",
    )
    return session.client(
        "kms",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 2, "mode": "standard"},
                      connect_timeout=5, read_timeout=30),
    )


def dry_run_encrypt(kms, key_id):
    """Encrypt with DryRun=True. botocore < 1.31 does not model DryRun; then the
    member is added to the JSON body before signing, as a newer SDK would send it."""
    model = kms.meta.service_model.operation_model("Encrypt")
    if "DryRun" in model.input_shape.members:
        return kms.encrypt(KeyId=key_id, Plaintext=b"dry", DryRun=True)

    def add_dry_run(request, **_):
        body = json.loads(request.data or b"{}")
        body["DryRun"] = True
        request.data = json.dumps(body).encode("utf-8")

    event = "before-sign.kms.Encrypt"
    kms.meta.events.register(event, add_dry_run, unique_id="compat-dry-run")
    try:
        return kms.encrypt(KeyId=key_id, Plaintext=b"dry")
    finally:
        kms.meta.events.unregister(event, unique_id="compat-dry-run")


def run(endpoint):
    kms = make_client(endpoint)
    suffix = f"{int(time.time())}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    alias = f"alias/compat-boto3-{suffix}"
    created_keys = []

    # --- CreateKey / DescribeKey ---------------------------------------------
    created = kms.create_key(
        Description=f"compat boto3 key {suffix}",
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
        Tags=[{"TagKey": "project", "TagValue": "kms-emulator"},
              {"TagKey": "suite", "TagValue": "boto3"}],
    )["KeyMetadata"]
    key_id, key_arn = created["KeyId"], created["Arn"]
    created_keys.append(key_id)
    check(uuid.UUID(key_id), "KeyId is not a UUID")
    check(key_arn.startswith("arn:aws:kms:us-east-1:") and key_arn.endswith(f":key/{key_id}"),
          f"unexpected key ARN {key_arn}")
    eq("create_key Description", f"compat boto3 key {suffix}", created["Description"])
    eq("create_key KeyState", "Enabled", created["KeyState"])
    eq("create_key Enabled", True, created["Enabled"])
    eq("create_key KeySpec", "SYMMETRIC_DEFAULT", created["KeySpec"])
    eq("create_key EncryptionAlgorithms", ["SYMMETRIC_DEFAULT"], created["EncryptionAlgorithms"])
    eq("create_key Origin", "AWS_KMS", created["Origin"])
    near("create_key CreationDate", created["CreationDate"], datetime.timedelta(0), datetime.timedelta(minutes=5))
    account = key_arn.split(":")[4]
    eq("create_key AWSAccountId", account, created["AWSAccountId"])

    described = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    eq("describe_key by ARN KeyId", key_id, described["KeyId"])
    eq("describe_key CreationDate", created["CreationDate"], described["CreationDate"])

    key2 = kms.create_key(Description="compat boto3 second key")["KeyMetadata"]
    key2_id, key2_arn = key2["KeyId"], key2["Arn"]
    created_keys.append(key2_id)

    # --- Aliases --------------------------------------------------------------
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    alias_arn = f"arn:aws:kms:us-east-1:{account}:{alias}"
    eq("describe_key by alias", key_id, kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
    eq("describe_key by alias ARN", key_id, kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"])
    expect_error("AlreadyExistsException", kms.create_alias, AliasName=alias, TargetKeyId=key2_id)
    expect_error("InvalidAliasNameException", kms.create_alias, AliasName="alias/aws/compat-reserved",
                 TargetKeyId=key2_id)
    expect_error("NotFoundException", kms.describe_key, KeyId=str(uuid.uuid4()))
    expect_error("NotFoundException", kms.describe_key, KeyId=f"alias/compat-boto3-missing-{suffix}")

    # --- Encrypt / Decrypt ----------------------------------------------------
    plaintext = b"compat plaintext \x00\x01\xfe\xff from boto3 " + suffix.encode()
    context = {"purpose": "compat", "client": "boto3"}
    enc = kms.encrypt(KeyId=alias, Plaintext=plaintext, EncryptionContext=context)
    eq("encrypt KeyId", key_arn, enc["KeyId"])
    eq("encrypt EncryptionAlgorithm", "SYMMETRIC_DEFAULT", enc["EncryptionAlgorithm"])
    blob = enc["CiphertextBlob"]
    check(isinstance(blob, bytes) and len(blob) > len(plaintext), f"CiphertextBlob looks wrong: {blob!r}")
    check(plaintext not in blob, "plaintext appears inside the ciphertext")
    enc_again = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext=context)["CiphertextBlob"]
    check(enc_again != blob, "two encryptions of the same plaintext gave the same ciphertext")

    dec = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    eq("decrypt (no KeyId) Plaintext", plaintext, dec["Plaintext"])
    eq("decrypt KeyId", key_arn, dec["KeyId"])
    eq("decrypt EncryptionAlgorithm", "SYMMETRIC_DEFAULT", dec["EncryptionAlgorithm"])
    eq("decrypt (KeyId alias) Plaintext", plaintext,
       kms.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=alias)["Plaintext"])
    eq("decrypt (KeyId ARN) Plaintext", plaintext,
       kms.decrypt(CiphertextBlob=enc_again, EncryptionContext=context, KeyId=key_arn,
                   EncryptionAlgorithm="SYMMETRIC_DEFAULT")["Plaintext"])
    expect_error("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob)
    expect_error("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob,
                 EncryptionContext={"purpose": "compat", "client": "other"})
    tampered = bytearray(blob)
    tampered[-1] ^= 0x01
    expect_error("InvalidCiphertextException", kms.decrypt, CiphertextBlob=bytes(tampered),
                 EncryptionContext=context)
    expect_error("IncorrectKeyException", kms.decrypt, CiphertextBlob=blob,
                 EncryptionContext=context, KeyId=key2_id)

    expect_error("InvalidCiphertextException", kms.decrypt, CiphertextBlob=b"not a KMS ciphertext blob at all")
    # Constraints that botocore leaves to the service.
    expect_error("ValidationException", kms.encrypt, KeyId=key_id, Plaintext=b"x" * 4097)
    eq("encrypt 4096 bytes", key_arn, kms.encrypt(KeyId=key_id, Plaintext=b"x" * 4096)["KeyId"])

    # DryRun: the request is checked but nothing is encrypted.
    expect_error("DryRunOperationException", dry_run_encrypt, kms, key_id)

    # --- Data keys --------------------------------------------------------------
    gdk = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"scope": "datakey"})
    eq("generate_data_key KeyId", key_arn, gdk["KeyId"])
    eq("generate_data_key Plaintext length", 32, len(gdk["Plaintext"]))
    eq("decrypt(data key)", gdk["Plaintext"],
       kms.decrypt(CiphertextBlob=gdk["CiphertextBlob"], EncryptionContext={"scope": "datakey"})["Plaintext"])
    eq("generate_data_key NumberOfBytes=48", 48,
       len(kms.generate_data_key(KeyId=alias, NumberOfBytes=48)["Plaintext"]))
    wp = kms.generate_data_key_without_plaintext(KeyId=key_arn, KeySpec="AES_128")
    check("Plaintext" not in wp, "generate_data_key_without_plaintext returned a Plaintext")
    eq("generate_data_key_without_plaintext KeyId", key_arn, wp["KeyId"])
    eq("decrypt(data key without plaintext) length", 16,
       len(kms.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]))
    # KeySpec and NumberOfBytes together are rejected by KMS.
    expect_error("ValidationException", kms.generate_data_key, KeyId=key_id, KeySpec="AES_256", NumberOfBytes=32)

    # --- ReEncrypt ------------------------------------------------------------------
    re = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=context,
                        DestinationKeyId=key2_arn, DestinationEncryptionContext={"purpose": "moved"})
    eq("re_encrypt SourceKeyId", key_arn, re["SourceKeyId"])
    eq("re_encrypt KeyId", key2_arn, re["KeyId"])
    moved = kms.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"purpose": "moved"})
    eq("decrypt(re-encrypted) Plaintext", plaintext, moved["Plaintext"])
    eq("decrypt(re-encrypted) KeyId", key2_arn, moved["KeyId"])
    expect_error("InvalidCiphertextException", kms.re_encrypt, CiphertextBlob=blob,
                 DestinationKeyId=key2_id)

    # --- Tags -------------------------------------------------------------------------
    def tags_of(kid):
        pages = kms.get_paginator("list_resource_tags").paginate(KeyId=kid)
        return {t["TagKey"]: t["TagValue"] for page in pages for t in page["Tags"]}

    eq("list_resource_tags", {"project": "kms-emulator", "suite": "boto3"}, tags_of(key_id))
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "suite", "TagValue": "boto3-v2"},
                                         {"TagKey": "owner", "TagValue": "compat"}])
    kms.untag_resource(KeyId=key_id, TagKeys=["project"])
    eq("tags after tag/untag", {"suite": "boto3-v2", "owner": "compat"}, tags_of(key_id))
    expect_error("TagException", kms.tag_resource, KeyId=key_id, Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])
    eq("list_resource_tags second key", {}, tags_of(key2_id))

    kms.update_key_description(KeyId=key_id, Description="updated by boto3")
    eq("update_key_description", "updated by boto3", kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"])

    # --- Paginators over more entries than a page holds -------------------------------
    page_keys = []
    for i in range(5):
        kid = kms.create_key(Description=f"compat boto3 page key {i}")["KeyMetadata"]["KeyId"]
        page_keys.append(kid)
        created_keys.append(kid)
        kms.create_alias(AliasName=f"{alias}-page-{i}", TargetKeyId=key_id if i < 3 else kid)

    first = kms.list_keys(Limit=2)
    eq("list_keys(Limit=2) entries", 2, len(first["Keys"]))
    eq("list_keys(Limit=2) Truncated", True, first["Truncated"])
    check(first.get("NextMarker"), "list_keys(Limit=2) has no NextMarker")
    second = kms.list_keys(Limit=2, Marker=first["NextMarker"])
    check(not {k["KeyId"] for k in first["Keys"]} & {k["KeyId"] for k in second["Keys"]},
          "list_keys second page repeats keys of the first page")
    expect_error("InvalidMarkerException", kms.list_keys, Limit=2, Marker="not-a-marker")

    pages = list(kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}))
    listed = [k["KeyId"] for page in pages for k in page["Keys"]]
    check(len(pages) >= 4, f"list_keys paginator: expected at least 4 pages of 2, got {len(pages)}")
    check(all(len(p["Keys"]) <= 2 for p in pages), "list_keys paginator: a page holds more than Limit entries")
    check(all(p["Truncated"] for p in pages[:-1]) and not pages[-1]["Truncated"],
          "list_keys paginator: Truncated flags are wrong")
    eq("list_keys paginator: duplicates", len(listed), len(set(listed)))
    for kid in created_keys:
        check(kid in listed, f"list_keys paginator: key {kid} missing")
    arns = {k["KeyId"]: k["KeyArn"] for page in pages for k in page["Keys"]}
    eq("list_keys KeyArn", key2_arn, arns[key2_id])

    alias_pages = list(kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 2}))
    all_aliases = {a["AliasName"]: a for page in alias_pages for a in page["Aliases"]}
    check(len(alias_pages) >= 3, f"list_aliases paginator: expected at least 3 pages, got {len(alias_pages)}")
    check(all(len(p["Aliases"]) <= 2 for p in alias_pages), "list_aliases paginator: page larger than Limit")
    eq("list_aliases TargetKeyId", key_id, all_aliases[alias].get("TargetKeyId"))
    eq("list_aliases AliasArn", alias_arn, all_aliases[alias].get("AliasArn"))
    for i in range(5):
        check(f"{alias}-page-{i}" in all_aliases, f"list_aliases paginator: {alias}-page-{i} missing")
    eq("list_aliases page-4 target", page_keys[4], all_aliases[f"{alias}-page-4"]["TargetKeyId"])

    by_key = kms.get_paginator("list_aliases").paginate(KeyId=key_id, PaginationConfig={"PageSize": 2})
    by_key_pages = list(by_key)
    eq("list_aliases(KeyId) pages", 2, len(by_key_pages))
    eq("list_aliases(KeyId) names", sorted([alias] + [f"{alias}-page-{i}" for i in range(3)]),
       sorted(a["AliasName"] for p in by_key_pages for a in p["Aliases"]))
    full = kms.get_paginator("list_aliases").paginate(KeyId=key_id).build_full_result()
    eq("list_aliases build_full_result", 4, len(full["Aliases"]))

    # --- Disable / enable --------------------------------------------------------------------
    kms.disable_key(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    eq("disabled KeyState", "Disabled", meta["KeyState"])
    eq("disabled Enabled", False, meta["Enabled"])
    expect_error("DisabledException", kms.encrypt, KeyId=key_id, Plaintext=b"x")
    expect_error("DisabledException", kms.generate_data_key, KeyId=alias, KeySpec="AES_256")
    expect_error("DisabledException", kms.decrypt, CiphertextBlob=blob, EncryptionContext=context)
    kms.enable_key(KeyId=key_id)
    eq("enabled KeyState", "Enabled", kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])
    eq("encrypt after enable", key_arn, kms.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"])

    # --- Schedule / cancel deletion ----------------------------------------------------------------
    expect_error("ValidationException", kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=3)
    sched = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    eq("schedule_key_deletion KeyId", key_arn, sched["KeyId"])
    eq("schedule_key_deletion KeyState", "PendingDeletion", sched.get("KeyState"))
    eq("schedule_key_deletion PendingWindowInDays", 7, sched.get("PendingWindowInDays"))
    near("schedule_key_deletion DeletionDate", sched["DeletionDate"], datetime.timedelta(days=7),
         datetime.timedelta(hours=1))
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    eq("describe pending deletion KeyState", "PendingDeletion", meta["KeyState"])
    near("describe DeletionDate", meta["DeletionDate"], datetime.timedelta(days=7), datetime.timedelta(hours=1))
    expect_error("KMSInvalidStateException", kms.encrypt, KeyId=key_id, Plaintext=b"x")
    expect_error("KMSInvalidStateException", kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=7)
    eq("cancel_key_deletion KeyId", key_arn, kms.cancel_key_deletion(KeyId=key_id)["KeyId"])
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    eq("state after cancel", "Disabled", meta["KeyState"])
    check("DeletionDate" not in meta, "DeletionDate still present after cancel_key_deletion")
    expect_error("KMSInvalidStateException", kms.cancel_key_deletion, KeyId=key_id)
    kms.enable_key(KeyId=key_id)

    # --- Key policy ----------------------------------------------------------------------------------
    eq("list_key_policies", ["default"], kms.list_key_policies(KeyId=key_id)["PolicyNames"])
    eq("list_key_policies paginator", ["default"],
       kms.get_paginator("list_key_policies").paginate(KeyId=key_id).build_full_result()["PolicyNames"])
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    eq("default policy Version", "2012-10-17", policy["Version"])
    check(any(s.get("Action") in ("kms:*", ["kms:*"]) for s in policy["Statement"]),
          f"default policy has no kms:* statement: {policy}")
    new_policy = {
        "Version": "2012-10-17", "Id": "compat-boto3",
        "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                       "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                       "Action": "kms:*", "Resource": "*"}],
    }
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(new_policy))
    eq("policy after put", "compat-boto3",
       json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])["Id"])
    expect_error("NotFoundException", kms.get_key_policy, KeyId=key_id, PolicyName="notdefault")
    expect_error("MalformedPolicyDocumentException", kms.put_key_policy, KeyId=key_id,
                 PolicyName="default", Policy="{not json")

    # --- GenerateRandom --------------------------------------------------------------------------------
    r1 = kms.generate_random(NumberOfBytes=64)["Plaintext"]
    r2 = kms.generate_random(NumberOfBytes=64)["Plaintext"]
    eq("generate_random length", 64, len(r1))
    check(r1 != r2, "generate_random returned the same bytes twice")
    expect_error("ValidationException", kms.generate_random, NumberOfBytes=1025)

    # --- UpdateAlias / DeleteAlias ------------------------------------------------------------------------
    kms.update_alias(AliasName=alias, TargetKeyId=key2_id)
    eq("update_alias target", key2_id, kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
    eq("encrypt via moved alias", key2_arn, kms.encrypt(KeyId=alias, Plaintext=b"x")["KeyId"])
    kms.delete_alias(AliasName=alias)
    expect_error("NotFoundException", kms.describe_key, KeyId=alias)
    expect_error("NotFoundException", kms.delete_alias, AliasName=alias)
    for i in range(5):
        kms.delete_alias(AliasName=f"{alias}-page-{i}")

    # Leave nothing usable behind.
    for kid in created_keys:
        kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)


def main():
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} <endpoint-url>", file=sys.stderr)
        return 2
    endpoint = sys.argv[1]
    try:
        run(endpoint)
    except CheckFailed as exc:
        line = traceback.extract_tb(exc.__traceback__)[1].lineno
        print(f"FAIL: {exc} (boto3_check.py line {line})", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"FAIL: unexpected service error {exc.response.get('Error')} "
              f"(HTTP {exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode')}): {exc}",
              file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - any client-side failure is a failed check
        traceback.print_exc()
        print(f"FAIL: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"boto3: OK ({CHECKS} checks, boto3 {boto3.__version__} botocore {botocore.__version__}, "
          f"{time.monotonic() - START:.1f}s) against {endpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
