#!/usr/bin/env bash
# Runs the whole test suite: unit, HSM (real SoftHSM2), end-to-end (official AWS SDK against a real Kestrel
# listener on loopback) and the client-compatibility checks (AWS CLI, boto3, AWS SDK for JavaScript v3 and the
# AWS Encryption SDK) when those clients are installed. Installs SoftHSM2 first when it is missing.
# Ends with one summary line, "tests: N passed, M failed, K skipped", summed over the test projects.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/ensure-softhsm.sh || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
dotnet test KmsEmulator.sln -c Release -nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/(Passed|Failed)! +- +Failed: / {
       for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
     }
     END { gsub(",", "", f); printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
# A test project that does not build runs no test and adds nothing to the counts above: say so.
if grep -qE '(error (CS|MSB)[0-9]+|Build FAILED)' "$log"; then
  echo "tests: a project failed to build (see the errors above); its tests did not run"
fi
exit "$status"
