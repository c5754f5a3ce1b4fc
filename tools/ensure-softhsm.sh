#!/usr/bin/env bash
# Installs SoftHSM2 through apt when its PKCS#11 module is missing (Debian/Ubuntu).
set -euo pipefail
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -e "$candidate" ] && exit 0
done
echo "SoftHSM2 is missing: installing it with apt-get" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq softhsm2 >/dev/null
