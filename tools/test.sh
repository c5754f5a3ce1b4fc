#!/usr/bin/env bash
# Runs the whole test suite: unit, HSM (real SoftHSM2), end-to-end (official AWS SDK against a real Kestrel
# listener on loopback) and the client-compatibility checks (AWS CLI, boto3, AWS SDK for JavaScript v3 and the
# AWS Encryption SDK) when those clients are installed. Installs SoftHSM2 first when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-softhsm.sh
dotnet test KmsEmulator.sln -c Release -nologo "$@"
