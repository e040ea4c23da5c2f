#!/usr/bin/env bash
# Unpacks Debian's arm64 `node` and the arm64 libraries it needs into .cache/node-arm64 (a sysroot for
# `qemu-aarch64 -L`), so that the packaging test can load the arm64 prebuilt addon in a real arm64 Node.js.
# Debian's nodejs:arm64 cannot be installed beside the amd64 nodejs, hence apt-get download + dpkg -x.
# Run by `npm run setup` (needs root or sudo, once: it enables the arm64 architecture in apt); downloads only here.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/node-arm64
if [ -x "$dest/usr/bin/node" ]; then
  echo "fetch-arm64-node: $dest/usr/bin/node present"
  exit 0
fi
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  "${as_root[@]}" dpkg --add-architecture arm64
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
fi

# nodejs:arm64 and, transitively, its arm64 dependencies (Multi-Arch: foreign ones such as debconf are not needed),
# plus the architecture-independent JavaScript that Debian's libnode loads from /usr/share/nodejs at start
queue=(nodejs:arm64 node-acorn node-cjs-module-lexer node-undici)
declare -A seen=()
while [ ${#queue[@]} -gt 0 ]; do
  p=${queue[0]}
  queue=("${queue[@]:1}")
  [ -n "${seen[$p]:-}" ] && continue
  seen[$p]=1
  for d in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$p" |
             sed -n 's/^ *\(Pre\)\{0,1\}Depends: \([^<> ]*:arm64\)$/\2/p'); do
    queue+=("$d")
  done
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "${!seen[@]}")
mkdir -p "$dest.tmp"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$dest.tmp"; done
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "fetch-arm64-node: unpacked ${!seen[*]} into $dest"
