#!/usr/bin/env bash
# C-level check that every SIMD path gives the scalar path's bytes: this machine's paths from the built kernel
# library, and the arm64 NEON path cross-compiled and run under qemu-aarch64.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cc -O2 -std=c11 -Inative/kernels test/native/kernel_paths.c build/libspirt_kernels.a -lm -o "$out/kernel_paths"
"$out/kernel_paths"

if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  echo "NEON check needs aarch64-linux-gnu-gcc and qemu-aarch64 (apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)" >&2
  exit 1
fi
k=native/kernels
# the flags CMakeLists.txt gives the kernels: no contraction anywhere, no auto-vectorised scalar reference
for f in simd_neon dispatch common robust; do
  aarch64-linux-gnu-gcc -O3 -std=c11 -fno-math-errno -ffp-contract=off -I$k -c $k/$f.c -o "$out/$f.o"
done
aarch64-linux-gnu-gcc -O3 -std=c11 -fno-math-errno -fno-tree-vectorize -ffp-contract=off -I$k -c $k/simd_scalar.c -o "$out/simd_scalar.o"
aarch64-linux-gnu-gcc -O2 -std=c11 -static -I$k test/native/kernel_paths.c "$out"/*.o -lm -o "$out/kernel_paths_arm64"
qemu-aarch64 "$out/kernel_paths_arm64"
