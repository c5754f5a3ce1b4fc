#!/usr/bin/env bash
# Runs every client-compatibility check whose client is installed against a running KmsEmulator.
# Usage: tests/compat/run-all.sh <endpoint-url>
#
# Clients: AWS CLI v2 (aws-cli.sh), python3 with boto3 (boto3_check.py),
# node + npm with tests/compat/js/node_modules (installed here with `npm ci` when missing).
# A missing client is reported as "skipped: <client> not installed", or counted as a failure
# when KMS_COMPAT_REQUIRE_ALL=1. Closing line: "compat: N passed, M failed[, K skipped]".
# Exit status: 0 when nothing failed, 1 otherwise, 2 on bad usage.
set -uo pipefail

ENDPOINT="${1:-}"
if [[ -z "$ENDPOINT" ]]; then
  echo "usage: $0 <endpoint-url>" >&2
  exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQUIRE_ALL="${KMS_COMPAT_REQUIRE_ALL:-0}"
PASSED=0
FAILED=0
SKIPPED=0

# missing <client> <hint>
missing() {
  if [[ "$REQUIRE_ALL" == "1" ]]; then
    echo "FAIL: $1 not installed ($2); KMS_COMPAT_REQUIRE_ALL=1"
    FAILED=$((FAILED + 1))
  else
    echo "skipped: $1 not installed ($2)"
    SKIPPED=$((SKIPPED + 1))
  fi
}

# run_check <name> <command...>
run_check() {
  local name="$1"; shift
  local t0 rc
  t0=$(date +%s.%N)
  echo "--- $name"
  "$@"
  rc=$?
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [[ $rc -eq 0 ]]; then
    echo "passed: $name (${secs}s)"
    PASSED=$((PASSED + 1))
  else
    echo "FAILED: $name (exit $rc, ${secs}s)"
    FAILED=$((FAILED + 1))
  fi
}

# --- AWS CLI v2 ---------------------------------------------------------------
if [[ -x /usr/bin/aws ]]; then AWS_BIN=/usr/bin/aws; else AWS_BIN="$(command -v aws || true)"; fi
if [[ -n "$AWS_BIN" ]] && [[ "$("$AWS_BIN" --version 2>&1)" == aws-cli/2.* ]]; then
  run_check "aws-cli" bash "$HERE/aws-cli.sh" "$ENDPOINT"
else
  missing "aws-cli" "AWS CLI v2: apt-get install awscli"
fi

# --- python3 + boto3 ------------------------------------------------------------
PYTHON=""
for candidate in /usr/bin/python3 "$(command -v python3 || true)"; do
  if [[ -n "$candidate" && -x "$candidate" ]] && "$candidate" -c 'import boto3' >/dev/null 2>&1; then
    PYTHON="$candidate"
    break
  fi
done
if [[ -n "$PYTHON" ]]; then
  run_check "boto3" "$PYTHON" "$HERE/boto3_check.py" "$ENDPOINT"
else
  missing "boto3" "python3 with boto3: apt-get install python3-boto3"
fi

# --- node: @aws-sdk/client-kms v3 + AWS Encryption SDK ---------------------------
JS_DIR="$HERE/js"
js_ready() {
  [[ -d "$JS_DIR/node_modules/@aws-sdk/client-kms" && -d "$JS_DIR/node_modules/@aws-crypto/client-node" ]]
}
if command -v node >/dev/null 2>&1; then
  if ! js_ready && command -v npm >/dev/null 2>&1; then
    echo "--- js: node_modules missing, running npm ci --prefix $JS_DIR"
    NPM_LOG="$(mktemp)"
    npm ci --prefix "$JS_DIR" --no-audit --no-fund >"$NPM_LOG" 2>&1 \
      || { echo "npm ci failed:"; tail -5 "$NPM_LOG"; }
    rm -f "$NPM_LOG"
  fi
  if js_ready; then
    run_check "js" node "$JS_DIR/check.mjs" "$ENDPOINT"
  else
    missing "js" "node_modules: npm ci --prefix tests/compat/js (needs npm)"
  fi
else
  missing "js" "node and npm: apt-get install nodejs npm"
fi

SUMMARY="compat: $PASSED passed, $FAILED failed"
if [[ $SKIPPED -gt 0 ]]; then SUMMARY="$SUMMARY, $SKIPPED skipped"; fi
echo "$SUMMARY"
[[ $FAILED -eq 0 ]]
