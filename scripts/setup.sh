#!/usr/bin/env bash
# `npm run setup`: installs the system packages in scripts/system-packages.txt that are missing (apt-get, as
# root or through sudo) and Debian's arm64 node (scripts/fetch-arm64-node.sh), then the npm dependencies, which
# builds the addon, the module and dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=$(grep -v '^#' scripts/system-packages.txt | tr -s '[:space:]' ' ')
missing=()
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: apt-get not found; install these packages (or your system's equivalents) by hand: ${missing[*]}" >&2
    exit 1
  fi
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root or install sudo, to install: ${missing[*]}" >&2; exit 1; }
    as_root=(sudo)
  fi
  echo "setup: installing ${missing[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: system packages present ($packages)"
fi

# Debian's arm64 node for the packaging test's load of the arm64 addon under qemu (downloaded here, never at test time)
bash scripts/fetch-arm64-node.sh
npm ci
