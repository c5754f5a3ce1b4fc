#!/usr/bin/env bash
# Checks the audit trail's integrity (docs/audit.md, "Integrity validation") without starting the server or opening
# the HSM: every log file against the digests that list it, every digest's signature against the exported public
# key, and the chain of digests. Builds KmsEmulator (Release) first; paths are relative to where you run it, e.g.
#   tools/audit-verify.sh --data-dir ./data
#   tools/audit-verify.sh --audit-dir /var/lib/kms/audit
# Prints one line per altered, added or missing file, then a summary. Exit status 0 when the trail is intact,
# 1 when it is not (or there is no audit folder), 2 for a usage error.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dotnet build "$repo/src/KmsEmulator.Api" -c Release -nologo -v quiet >&2
exec dotnet "$repo/src/KmsEmulator.Api/bin/Release/net10.0/KmsEmulator.Api.dll" audit verify "$@"
