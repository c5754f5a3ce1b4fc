#!/usr/bin/env bash
# Builds KmsEmulator (Release) and runs it with the embedded defaults: http://127.0.0.1:4599 and https://127.0.0.1:4600
# (certificate of a local CA made in ./data/tls on first start; docs/tls.md), data in ./data
# (SoftHSM2 token and SQLite file created on first start). Extra arguments go to the emulator, e.g.
#   tools/run.sh --urls http://127.0.0.1:5000 --data-dir /tmp/kms
# From a checkout it builds the emulator (Release) first. Where it is already built, as in the Docker image
# (docker/Dockerfile), KMS_EMULATOR_APP names its KmsEmulator.Api.dll and nothing is built.
set -euo pipefail
tools="$(cd "$(dirname "$0")" && pwd)"
"$tools/ensure-softhsm.sh"
if [ -n "${KMS_EMULATOR_APP:-}" ]; then
  exec dotnet "$KMS_EMULATOR_APP" "$@"
fi
cd "$tools/.."
dotnet build src/KmsEmulator.Api -c Release -nologo -v quiet
exec dotnet src/KmsEmulator.Api/bin/Release/net10.0/KmsEmulator.Api.dll "$@"
