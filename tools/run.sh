#!/usr/bin/env bash
# Builds KmsEmulator (Release) and runs it with the embedded defaults: http://127.0.0.1:4599 and https://127.0.0.1:4600
# (certificate of a local CA made in ./data/tls on first start; docs/tls.md), data in ./data
# (SoftHSM2 token and SQLite file created on first start). Extra arguments go to the emulator, e.g.
#   tools/run.sh --urls http://127.0.0.1:5000 --data-dir /tmp/kms
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-softhsm.sh
dotnet build src/KmsEmulator.Api -c Release -nologo -v quiet
exec dotnet src/KmsEmulator.Api/bin/Release/net10.0/KmsEmulator.Api.dll "$@"
