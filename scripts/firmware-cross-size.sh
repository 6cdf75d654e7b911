#!/usr/bin/env bash
# Cross-compiles the portable firmware core for a 32-bit microcontroller (RV32IMC, picolibc) to
# prove it builds without the host's C++ library, prints each object's size, and fails if any
# object references the heap (malloc/free/new/delete), exceptions or RTTI support.
#
# Why RISC-V and not Xtensa: no ESP32 toolchain can be installed here; Debian's
# gcc-riscv64-unknown-elf + picolibc is the closest freestanding 32-bit target (and the ESP32-C3
# is an RV32IMC core). Needs: gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf.
set -euo pipefail
cd "$(dirname "$0")/.."

CXX=riscv64-unknown-elf-g++
NM=riscv64-unknown-elf-nm
SIZE=riscv64-unknown-elf-size
OUT=firmware/.build/cross
SRC_DIR=firmware/lib
FLAGS=(-march=rv32imc -mabi=ilp32 -Os -fno-exceptions -fno-rtti --specs=picolibc.specs
       -std=c++17 -Wall -Wextra -Werror -ffunction-sections -fdata-sections)

for tool in "$CXX" "$NM" "$SIZE"; do
  command -v "$tool" >/dev/null || { echo "cross-size: $tool not found (apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf)"; exit 1; }
done

rm -rf "$OUT"
mkdir -p "$OUT"
mapfile -t sources < <(find "$SRC_DIR" -name '*.cpp' | sort)
[ "${#sources[@]}" -gt 0 ] || { echo "cross-size: no sources under $SRC_DIR"; exit 1; }

objects=()
for src in "${sources[@]}"; do
  obj="$OUT/$(basename "${src%.cpp}").o"
  "$CXX" "${FLAGS[@]}" -I"$(dirname "$src")" -c "$src" -o "$obj"
  objects+=("$obj")
done

echo "cross-size: rv32imc -Os, picolibc, bytes per object:"
"$SIZE" "${objects[@]}"

# Undefined symbols that would mean heap use or C++ runtime support the firmware must not need.
forbidden='^(malloc|free|calloc|realloc|_malloc_r|_free_r|_calloc_r|_realloc_r|_Znw.*|_Zna.*|_Zdl.*|_Zda.*|__cxa_allocate_exception|__cxa_throw|__cxa_begin_catch|__gxx_personality_v0|_ZTI.*|__dynamic_cast)$'
bad=0
for obj in "${objects[@]}"; do
  hits=$("$NM" -u "$obj" | awk '{print $NF}' | grep -E "$forbidden" || true)
  if [ -n "$hits" ]; then
    echo "cross-size: FAIL $(basename "$obj") references: $(echo "$hits" | tr '\n' ' ')"
    bad=1
  fi
done
# Canary: the same filter must catch a deliberate allocation, or the check above proves nothing.
printf 'int* leak() { return new int(1); }\nvoid* grab() { return __builtin_malloc(4); }\n' > "$OUT/canary.cpp"
"$CXX" "${FLAGS[@]}" -c "$OUT/canary.cpp" -o "$OUT/canary.o"
canary=$("$NM" -u "$OUT/canary.o" | awk '{print $NF}' | grep -cE "$forbidden" || true)
if [ "$canary" -lt 2 ]; then
  echo "cross-size: FAIL the heap filter missed the canary's new/malloc"
  bad=1
fi
total=$("$SIZE" -t "${objects[@]}" | tail -1 | awk '{print $1 + $2}')
if [ "$bad" -ne 0 ]; then
  echo "cross-size: FAIL (heap or C++ runtime reference found)"
  exit 1
fi
echo "cross-size: ok, ${#objects[@]} objects, ${total} bytes text+data, no malloc/free/new/delete"
