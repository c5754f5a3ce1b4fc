#!/usr/bin/env bash
# Publishes the emulator (Release) into the folder given, default artifacts/emulator: the build that tools/run.sh,
# the Docker image (docker/Dockerfile) and the benchmarks (bench/) run. ReadyToRun: the assemblies are compiled ahead
# of time for this machine's runtime identifier, so start-up does not wait for the JIT (docs/performance.md). The
# first publish fetches the compiler and runtime packs from NuGet; later ones rebuild only what changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/artifacts/emulator}"
dotnet publish "$root/src/KmsEmulator.Api" -c Release --use-current-runtime -p:PublishReadyToRun=true -o "$out" -nologo -v quiet
