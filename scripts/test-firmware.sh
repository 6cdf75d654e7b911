#!/usr/bin/env bash
# Firmware checks that run on this host (no PlatformIO, no ESP32 toolchain here):
#   1. the portable core's doctest suites (firmware/test/test_core), built with g++ and
#      AddressSanitizer + UBSan, JSON checked by nlohmann::json;
#   2. the RV32 cross-compile of firmware/lib: sizes, and no heap / C++ runtime references;
#   3. the host simulator build (firmware/sim), used by the gateway end-to-end test and bench/.
# Last line: "firmware: N passed, N failed" (doctest test cases + 1 for the cross-size check;
# a failed simulator build adds one failure). Exit status non-zero on any failure.
# Needs: g++ doctest-dev nlohmann-json3-dev gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
set -uo pipefail
cd "$(dirname "$0")/.."

FW=firmware
OUT=$FW/.build/host
mkdir -p "$OUT"
CXX=${CXX:-g++}
CXXFLAGS=(-std=c++17 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
          -Wall -Wextra -Werror -g -O1)
INCLUDES=(-I/usr/include/doctest -I"$FW/lib/iotgw_core/src" -I"$FW/test/test_core")
passed=0
failed=0

# --- 1. core tests -----------------------------------------------------------------------------
mapfile -t sources < <(find "$FW/lib" "$FW/test" -name '*.cpp' | sort)
# Objects are reused while newer than their source and every header (nlohmann makes a cold
# build slow); anything older is rebuilt, two at a time.
newest_header=$(find "$FW/lib" "$FW/test" -name '*.h' -printf '%T@\n' | sort -n | tail -1)
stale=()
objects=()
for src in "${sources[@]}"; do
  obj="$OUT/$(echo "${src#"$FW"/}" | tr '/' '_').o"
  objects+=("$obj")
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || \
     awk -v h="$newest_header" -v o="$(stat -c %Y "$obj")" 'BEGIN { exit !(h > o) }'; then
    stale+=("$src:$obj")
  fi
done
compile_ok=1
if [ "${#stale[@]}" -gt 0 ]; then
  export CXX
  printf '%s\n' "${stale[@]}" | xargs -P "$(nproc)" -I{} bash -c \
    'src="${1%%:*}"; obj="${1#*:}"; shift; "$CXX" "$@" -c "$src" -o "$obj" || { rm -f "$obj"; exit 1; }' \
    _ {} "${CXXFLAGS[@]}" "${INCLUDES[@]}" || compile_ok=0
fi
if [ "$compile_ok" -eq 1 ] && "$CXX" "${CXXFLAGS[@]}" "${objects[@]}" -o "$OUT/core_tests"; then
  log="$OUT/core_tests.log"
  "$OUT/core_tests" --no-colors=true 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  summary=$(grep -E '^\[doctest\] test cases:' "$log" | tail -1)
  if [ -n "$summary" ]; then
    p=$(echo "$summary" | sed -E 's/.*\| *([0-9]+) passed.*/\1/')
    f=$(echo "$summary" | sed -E 's/.*\| *([0-9]+) failed.*/\1/')
    passed=$((passed + p))
    failed=$((failed + f))
    # A sanitizer abort after a clean summary still fails the run.
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
  else
    echo "firmware: core tests crashed before their summary (see above)"
    failed=$((failed + 1))
  fi
else
  echo "firmware: core tests did not build"
  failed=$((failed + 1))
fi

# --- 2. cross-compile size check -----------------------------------------------------------------
if bash scripts/firmware-cross-size.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi

# --- 3. simulator build --------------------------------------------------------------------------
if ! bash "$FW/sim/build.sh"; then
  echo "firmware: simulator did not build"
  failed=$((failed + 1))
fi

echo "firmware: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
