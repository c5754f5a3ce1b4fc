#!/usr/bin/env bash
# Publishes KmsEmulator (Release) and runs it with the embedded defaults: http://127.0.0.1:4599 and https://127.0.0.1:4600
# (certificate of a local CA made in ./data/tls on first start; docs/tls.md), data in ./data
# (SoftHSM2 token and SQLite file created on first start). Extra arguments go to the emulator, e.g.
#   tools/run.sh --urls http://127.0.0.1:5000 --data-dir /tmp/kms
# From a checkout it publishes the emulator into artifacts/emulator first (tools/publish.sh: ReadyToRun, for a quick
# start). Where it is already published, as in the Docker image (docker/Dockerfile), KMS_EMULATOR_APP names its
# KmsEmulator.Api.dll and nothing is built.
set -euo pipefail
tools="$(cd "$(dirname "$0")" && pwd)"
"$tools/ensure-softhsm.sh"
if [ -n "${KMS_EMULATOR_APP:-}" ]; then
  exec dotnet "$KMS_EMULATOR_APP" "$@"
fi
"$tools/publish.sh" "$tools/../artifacts/emulator"
exec dotnet "$tools/../artifacts/emulator/KmsEmulator.Api.dll" "$@"
