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

# the model's convolution tables (native/model/conv_*.c, with CMakeLists.txt's flags) against their reference;
# each ISA file compiles to nothing on the other architecture
m=native/model
for f in $m/conv_*.c; do
  flags=()
  if [ "$(uname -m)" = x86_64 ]; then
    case $f in *avx2.c) flags=(-mavx2 -mfma) ;; *avx512.c) flags=(-mavx512f -mavx2 -mfma) ;; esac
  fi
  cc -O3 -std=gnu11 "${flags[@]}" -I$m -c "$f" -o "$out/$(basename "$f" .c).o"
done
cc -O2 -std=gnu11 -I$m test/model/conv_paths.c "$out"/conv_*.o -lm -o "$out/conv_paths"
"$out/conv_paths"
aarch64-linux-gnu-gcc -O3 -std=gnu11 -static -I$m test/model/conv_paths.c $m/conv_*.c -lm -o "$out/conv_paths_arm64"
qemu-aarch64 "$out/conv_paths_arm64"
