#!/usr/bin/env bash
# Client-compatibility check: AWS CLI v2 against a running KmsEmulator.
# Usage: tests/compat/aws-cli.sh <endpoint-url>     e.g. http://127.0.0.1:8080
# Exits 0 when every assertion holds; otherwise prints "FAIL: ..." and exits 1.
set -euo pipefail

ENDPOINT="${1:-}"
if [[ -z "$ENDPOINT" ]]; then
  echo "usage: $0 <endpoint-url>" >&2
  exit 2
fi

# Debian's /usr/bin/aws is CLI v2; a pyenv shim named `aws` (v1) may come first on PATH.
if [[ -x /usr/bin/aws ]]; then AWS_BIN=/usr/bin/aws; else AWS_BIN="$(command -v aws || true)"; fi
if [[ -z "$AWS_BIN" ]]; then
  echo "FAIL: aws CLI not found" >&2
  exit 1
fi
CLI_VERSION="$("$AWS_BIN" --version 2>&1 || true)"
if [[ "$CLI_VERSION" != aws-cli/2.* ]]; then
  echo "FAIL: $AWS_BIN is not AWS CLI v2 (got: $CLI_VERSION)" >&2
  exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Dummy credentials and an isolated configuration: nothing from ~/.aws is used.
export AWS_ACCESS_KEY_ID=AKIDCOMPATCLI
export AWS_SECRET_ACCESS_KEY=compat-cli-secret
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export AWS_CONFIG_FILE="$WORK/config"
export AWS_SHARED_CREDENTIALS_FILE="$WORK/credentials"
export AWS_PAGER=""
export AWS_EC2_METADATA_DISABLED=true
export AWS_RETRY_MODE=standard
export AWS_MAX_ATTEMPTS=2

START=$(date +%s)
CHECKS=0

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# kms <args...>: run an AWS CLI kms command against the emulator; stdout is the answer.
kms() {
  local out err rc
  err="$WORK/stderr"
  rc=0
  out="$("$AWS_BIN" --endpoint-url "$ENDPOINT" kms "$@" 2>"$err")" || rc=$?
  if [[ $rc -ne 0 ]]; then
    fail "aws kms $* exited $rc: $(cat "$err")"
  fi
  printf '%s' "$out"
}

# expect_error <ErrorCode> <args...>: the command must fail with that service error code.
expect_error() {
  local code="$1"; shift
  local err="$WORK/stderr" rc=0
  "$AWS_BIN" --endpoint-url "$ENDPOINT" kms "$@" >"$WORK/stdout" 2>"$err" || rc=$?
  if [[ $rc -eq 0 ]]; then
    fail "aws kms $* succeeded but $code was expected (stdout: $(cat "$WORK/stdout"))"
  fi
  if ! grep -q "An error occurred ($code)" "$err"; then
    fail "aws kms $* failed, but not with $code: $(cat "$err")"
  fi
  CHECKS=$((CHECKS + 1))
}

# eq <what> <expected> <actual>
eq() {
  if [[ "$2" != "$3" ]]; then
    fail "$1: expected '$2', got '$3'"
  fi
  CHECKS=$((CHECKS + 1))
}

# contains <what> <needle> <haystack>
contains() {
  if ! grep -qxF -- "$2" <<<"$3"; then
    fail "$1: '$2' not found in: $(tr '\n' ' ' <<<"$3")"
  fi
  CHECKS=$((CHECKS + 1))
}

# py <expr> : evaluate a python expression over the JSON on stdin (bound to d)
if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
py() {
  "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); r=($1); print(r if not isinstance(r,(list,dict)) else json.dumps(r, sort_keys=True))"
}

b64file() { base64 -d >"$1"; }

SUFFIX="$(date +%s)-$$-$RANDOM"
ALIAS="alias/compat-cli-$SUFFIX"
ALIAS2="alias/compat-cli-second-$SUFFIX"

# --- CreateKey with description and tags ---------------------------------------
CREATED="$(kms create-key --description "compat cli key $SUFFIX" \
  --tags TagKey=project,TagValue=kms-emulator TagKey=suite,TagValue=aws-cli --output json)"
KEY_ID="$(py 'd["KeyMetadata"]["KeyId"]' <<<"$CREATED")"
KEY_ARN="$(py 'd["KeyMetadata"]["Arn"]' <<<"$CREATED")"
eq "create-key Description" "compat cli key $SUFFIX" "$(py 'd["KeyMetadata"]["Description"]' <<<"$CREATED")"
eq "create-key KeyState" "Enabled" "$(py 'd["KeyMetadata"]["KeyState"]' <<<"$CREATED")"
eq "create-key Enabled" "True" "$(py 'd["KeyMetadata"]["Enabled"]' <<<"$CREATED")"
eq "create-key KeySpec" "SYMMETRIC_DEFAULT" "$(py 'd["KeyMetadata"]["KeySpec"]' <<<"$CREATED")"
eq "create-key KeyUsage" "ENCRYPT_DECRYPT" "$(py 'd["KeyMetadata"]["KeyUsage"]' <<<"$CREATED")"
eq "create-key KeyManager" "CUSTOMER" "$(py 'd["KeyMetadata"]["KeyManager"]' <<<"$CREATED")"
[[ "$KEY_ARN" =~ ^arn:aws:kms:us-east-1:[0-9]{12}:key/${KEY_ID}$ ]] || fail "create-key Arn has an unexpected form: $KEY_ARN"
[[ "$KEY_ID" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] || fail "create-key KeyId is not a UUID: $KEY_ID"

KEY2_ID="$(kms create-key --description "compat cli second key" --query KeyMetadata.KeyId --output text)"
KEY2_ARN="$(kms describe-key --key-id "$KEY2_ID" --query KeyMetadata.Arn --output text)"
eq "describe-key second key Arn suffix" "key/$KEY2_ID" "${KEY2_ARN##*:}"

# --- Aliases --------------------------------------------------------------------
kms create-alias --alias-name "$ALIAS" --target-key-id "$KEY_ID" >/dev/null
eq "describe-key by alias" "$KEY_ID" "$(kms describe-key --key-id "$ALIAS" --query KeyMetadata.KeyId --output text)"
ALIAS_ARN="${KEY_ARN%%:key/*}:$ALIAS"
eq "describe-key by alias ARN" "$KEY_ID" "$(kms describe-key --key-id "$ALIAS_ARN" --query KeyMetadata.KeyId --output text)"
eq "describe-key by key ARN" "$KEY_ID" "$(kms describe-key --key-id "$KEY_ARN" --query KeyMetadata.KeyId --output text)"
expect_error AlreadyExistsException create-alias --alias-name "$ALIAS" --target-key-id "$KEY2_ID"

# --- Encrypt / Decrypt with an encryption context (fileb://) -------------------
printf 'compat plaintext \x00\x01\x02\xff from the AWS CLI %s\n' "$SUFFIX" >"$WORK/plain.bin"
ENC="$(kms encrypt --key-id "$ALIAS" --plaintext "fileb://$WORK/plain.bin" \
  --encryption-context purpose=compat,client=aws-cli --output json)"
eq "encrypt KeyId" "$KEY_ARN" "$(py 'd["KeyId"]' <<<"$ENC")"
eq "encrypt EncryptionAlgorithm" "SYMMETRIC_DEFAULT" "$(py 'd["EncryptionAlgorithm"]' <<<"$ENC")"
py 'd["CiphertextBlob"]' <<<"$ENC" | b64file "$WORK/ct.bin"
if cmp -s "$WORK/ct.bin" "$WORK/plain.bin"; then fail "ciphertext equals plaintext"; fi

# Decrypt without --key-id (key found from the ciphertext)
DEC="$(kms decrypt --ciphertext-blob "fileb://$WORK/ct.bin" --encryption-context purpose=compat,client=aws-cli --output json)"
eq "decrypt (no key id) KeyId" "$KEY_ARN" "$(py 'd["KeyId"]' <<<"$DEC")"
eq "decrypt EncryptionAlgorithm" "SYMMETRIC_DEFAULT" "$(py 'd["EncryptionAlgorithm"]' <<<"$DEC")"
py 'd["Plaintext"]' <<<"$DEC" | b64file "$WORK/dec1.bin"
cmp -s "$WORK/plain.bin" "$WORK/dec1.bin" || fail "decrypt (no key id) returned different plaintext"
CHECKS=$((CHECKS + 1))

# Decrypt with --key-id (alias), text output straight into a file
kms decrypt --ciphertext-blob "fileb://$WORK/ct.bin" --key-id "$ALIAS" \
  --encryption-context purpose=compat,client=aws-cli --query Plaintext --output text | b64file "$WORK/dec2.bin"
cmp -s "$WORK/plain.bin" "$WORK/dec2.bin" || fail "decrypt (with alias key id) returned different plaintext"
CHECKS=$((CHECKS + 1))

# Wrong context, missing context, wrong key id
expect_error InvalidCiphertextException decrypt --ciphertext-blob "fileb://$WORK/ct.bin" --encryption-context purpose=other,client=aws-cli
expect_error InvalidCiphertextException decrypt --ciphertext-blob "fileb://$WORK/ct.bin"
expect_error IncorrectKeyException decrypt --ciphertext-blob "fileb://$WORK/ct.bin" --key-id "$KEY2_ID" --encryption-context purpose=compat,client=aws-cli

# --- GenerateDataKey / GenerateDataKeyWithoutPlaintext --------------------------
GDK="$(kms generate-data-key --key-id "$KEY_ID" --key-spec AES_256 --encryption-context scope=datakey --output json)"
eq "generate-data-key KeyId" "$KEY_ARN" "$(py 'd["KeyId"]' <<<"$GDK")"
py 'd["Plaintext"]' <<<"$GDK" | b64file "$WORK/dk.bin"
py 'd["CiphertextBlob"]' <<<"$GDK" | b64file "$WORK/dk.enc"
eq "generate-data-key plaintext length" "32" "$(stat -c %s "$WORK/dk.bin")"
kms decrypt --ciphertext-blob "fileb://$WORK/dk.enc" --encryption-context scope=datakey --query Plaintext --output text | b64file "$WORK/dk.dec"
cmp -s "$WORK/dk.bin" "$WORK/dk.dec" || fail "decrypted data key differs from GenerateDataKey plaintext"
CHECKS=$((CHECKS + 1))

GDK64="$(kms generate-data-key --key-id "$ALIAS" --number-of-bytes 64 --query Plaintext --output text | base64 -d | wc -c)"
eq "generate-data-key --number-of-bytes 64 length" "64" "$GDK64"

kms generate-data-key-without-plaintext --key-id "$KEY_ARN" --key-spec AES_128 --query CiphertextBlob --output text | b64file "$WORK/dkwp.enc"
eq "generate-data-key-without-plaintext decrypted length" "16" \
  "$(kms decrypt --ciphertext-blob "fileb://$WORK/dkwp.enc" --query Plaintext --output text | base64 -d | wc -c)"

# --- ReEncrypt to the second key with a new context -----------------------------
REENC="$(kms re-encrypt --ciphertext-blob "fileb://$WORK/ct.bin" \
  --source-encryption-context purpose=compat,client=aws-cli \
  --destination-key-id "$KEY2_ID" --destination-encryption-context purpose=reencrypted --output json)"
eq "re-encrypt SourceKeyId" "$KEY_ARN" "$(py 'd["SourceKeyId"]' <<<"$REENC")"
eq "re-encrypt KeyId" "$KEY2_ARN" "$(py 'd["KeyId"]' <<<"$REENC")"
py 'd["CiphertextBlob"]' <<<"$REENC" | b64file "$WORK/ct2.bin"
DEC2="$(kms decrypt --ciphertext-blob "fileb://$WORK/ct2.bin" --encryption-context purpose=reencrypted --output json)"
eq "decrypt re-encrypted KeyId" "$KEY2_ARN" "$(py 'd["KeyId"]' <<<"$DEC2")"
py 'd["Plaintext"]' <<<"$DEC2" | b64file "$WORK/dec3.bin"
cmp -s "$WORK/plain.bin" "$WORK/dec3.bin" || fail "re-encrypted ciphertext decrypts to different plaintext"
CHECKS=$((CHECKS + 1))

# --- Listing --------------------------------------------------------------------
contains "list-keys" "$KEY_ID" "$(kms list-keys --query 'Keys[].KeyId' --output text | tr '\t' '\n')"
contains "list-keys ARN" "$KEY2_ARN" "$(kms list-keys --query 'Keys[].KeyArn' --output text | tr '\t' '\n')"
# The CLI paginates by itself: a small page size forces several ListKeys calls.
contains "list-keys --page-size 1" "$KEY2_ID" "$(kms list-keys --page-size 1 --query 'Keys[].KeyId' --output text | tr '\t' '\n')"
eq "list-aliases TargetKeyId" "$KEY_ID" \
  "$(kms list-aliases --query "Aliases[?AliasName=='$ALIAS'].TargetKeyId | [0]" --output text)"
eq "list-aliases AliasArn" "$ALIAS_ARN" \
  "$(kms list-aliases --query "Aliases[?AliasName=='$ALIAS'].AliasArn | [0]" --output text)"
eq "list-aliases --key-id" "$ALIAS" "$(kms list-aliases --key-id "$KEY_ID" --query 'Aliases[].AliasName' --output text)"

TAGS="$(kms list-resource-tags --key-id "$KEY_ID" --output json)"
eq "list-resource-tags" '{"project": "kms-emulator", "suite": "aws-cli"}' \
  "$(py '{t["TagKey"]: t["TagValue"] for t in d["Tags"]}' <<<"$TAGS")"
eq "list-resource-tags Truncated" "False" "$(py 'd.get("Truncated", False)' <<<"$TAGS")"
kms tag-resource --key-id "$KEY_ID" --tags TagKey=owner,TagValue=compat TagKey=suite,TagValue=aws-cli-v2 >/dev/null
kms untag-resource --key-id "$KEY_ID" --tag-keys project >/dev/null
eq "tags after tag/untag" '{"owner": "compat", "suite": "aws-cli-v2"}' \
  "$(kms list-resource-tags --key-id "$KEY_ID" --output json | py '{t["TagKey"]: t["TagValue"] for t in d["Tags"]}')"

kms update-key-description --key-id "$KEY_ID" --description "updated by aws-cli" >/dev/null
eq "update-key-description" "updated by aws-cli" "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.Description --output text)"

# --- Disable / enable -----------------------------------------------------------
kms disable-key --key-id "$KEY_ID" >/dev/null
eq "describe-key after disable" "Disabled False" \
  "$(kms describe-key --key-id "$KEY_ID" --query '[KeyMetadata.KeyState, KeyMetadata.Enabled]' --output text | tr '\t' ' ')"
expect_error DisabledException encrypt --key-id "$KEY_ID" --plaintext "fileb://$WORK/plain.bin"
expect_error DisabledException decrypt --ciphertext-blob "fileb://$WORK/ct.bin" --encryption-context purpose=compat,client=aws-cli
kms enable-key --key-id "$KEY_ID" >/dev/null
eq "describe-key after enable" "Enabled" "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.KeyState --output text)"
eq "encrypt after enable" "$KEY_ARN" "$(kms encrypt --key-id "$KEY_ID" --plaintext "fileb://$WORK/plain.bin" --query KeyId --output text)"

# --- Schedule / cancel deletion -------------------------------------------------
SCHED="$(kms schedule-key-deletion --key-id "$KEY_ID" --pending-window-in-days 7 --output json)"
eq "schedule-key-deletion KeyId" "$KEY_ARN" "$(py 'd["KeyId"]' <<<"$SCHED")"
eq "schedule-key-deletion KeyState" "PendingDeletion" "$(py 'd.get("KeyState")' <<<"$SCHED")"
eq "schedule-key-deletion PendingWindowInDays" "7" "$(py 'd.get("PendingWindowInDays")' <<<"$SCHED")"
# DeletionDate must be about 7 days ahead (the CLI prints it as an ISO timestamp).
DAYS_AHEAD="$(py 'round((__import__("datetime").datetime.fromisoformat(d["DeletionDate"]) - __import__("datetime").datetime.now(__import__("datetime").timezone.utc)).total_seconds() / 86400)' <<<"$SCHED")"
eq "schedule-key-deletion DeletionDate days ahead" "7" "$DAYS_AHEAD"
eq "describe-key pending deletion" "PendingDeletion" "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.KeyState --output text)"
expect_error KMSInvalidStateException encrypt --key-id "$KEY_ID" --plaintext "fileb://$WORK/plain.bin"
CANCEL="$(kms cancel-key-deletion --key-id "$KEY_ID" --query KeyId --output text)"
eq "cancel-key-deletion KeyId" "$KEY_ARN" "$CANCEL"
# As in AWS KMS, a key whose deletion was cancelled is Disabled.
eq "describe-key after cancel" "Disabled" "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.KeyState --output text)"
kms enable-key --key-id "$KEY_ID" >/dev/null
eq "state after re-enable" "Enabled" "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.KeyState --output text)"

# --- Key policy -------------------------------------------------------------------
eq "list-key-policies" "default" "$(kms list-key-policies --key-id "$KEY_ID" --query 'PolicyNames' --output text)"
POLICY="$(kms get-key-policy --key-id "$KEY_ID" --policy-name default --query Policy --output text)"
eq "get-key-policy Version" "2012-10-17" "$(py 'd["Version"]' <<<"$POLICY")"
eq "get-key-policy has statements" "True" "$(py 'len(d["Statement"]) > 0' <<<"$POLICY")"
cat >"$WORK/policy.json" <<'JSON'
{"Version":"2012-10-17","Id":"compat-cli","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}
JSON
kms put-key-policy --key-id "$KEY_ID" --policy-name default --policy "file://$WORK/policy.json" >/dev/null
eq "get-key-policy after put" "compat-cli" \
  "$(kms get-key-policy --key-id "$KEY_ID" --policy-name default --query Policy --output text | py 'd["Id"]')"

# --- GenerateRandom ---------------------------------------------------------------
R1="$(kms generate-random --number-of-bytes 32 --query Plaintext --output text)"
R2="$(kms generate-random --number-of-bytes 32 --query Plaintext --output text)"
eq "generate-random length" "32" "$(base64 -d <<<"$R1" | wc -c)"
[[ "$R1" != "$R2" ]] || fail "generate-random returned the same bytes twice"

# --- UpdateAlias / DeleteAlias / NotFound -----------------------------------------
kms create-alias --alias-name "$ALIAS2" --target-key-id "$KEY2_ARN" >/dev/null
kms update-alias --alias-name "$ALIAS" --target-key-id "$KEY2_ID" >/dev/null
eq "update-alias target" "$KEY2_ID" "$(kms describe-key --key-id "$ALIAS" --query KeyMetadata.KeyId --output text)"
kms delete-alias --alias-name "$ALIAS" >/dev/null
kms delete-alias --alias-name "$ALIAS2" >/dev/null
expect_error NotFoundException describe-key --key-id "$ALIAS"
expect_error NotFoundException describe-key --key-id "$("$PYTHON" -c 'import uuid; print(uuid.uuid4())')"
eq "list-aliases after delete" "None" \
  "$(kms list-aliases --query "Aliases[?AliasName=='$ALIAS'].AliasName | [0]" --output text)"

# --- AWS managed keys -------------------------------------------------------------
eq "list-aliases lists alias/aws/ssm" "alias/aws/ssm" \
  "$(kms list-aliases --query "Aliases[?AliasName=='alias/aws/ssm'].AliasName | [0]" --output text)"
eq "describe-key alias/aws/ssm creates the AWS managed key" "AWS" \
  "$(kms describe-key --key-id alias/aws/ssm --query KeyMetadata.KeyManager --output text)"
expect_error AccessDeniedException encrypt --key-id alias/aws/ssm --plaintext "$(printf x | base64)"

# Leave no usable keys behind.
kms schedule-key-deletion --key-id "$KEY_ID" --pending-window-in-days 7 >/dev/null
kms schedule-key-deletion --key-id "$KEY2_ID" --pending-window-in-days 7 >/dev/null

echo "aws-cli: OK ($CHECKS checks, ${CLI_VERSION%% *}, $(( $(date +%s) - START ))s) against $ENDPOINT"
