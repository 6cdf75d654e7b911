#!/usr/bin/env bash
# Firmware checks that run on this host (no PlatformIO, no ESP32 toolchain here):
#   1. the portable core's doctest suites (firmware/test/test_core), built with g++ and
#      AddressSanitizer + UBSan, JSON checked by nlohmann::json;
#   2. the RV32 cross-compile of firmware/lib: sizes, and no heap / C++ runtime references;
#   3. the host simulator build (firmware/sim), used by the gateway end-to-end test and bench/;
#   4. the tests of the build-flag derivation (scripts/firmware_build_flags_test.py);
#   5. the compile check of the Arduino glue against the real ESP32 core headers
#      (scripts/firmware-glue-check.sh: one test per firmware/src/*.cpp and per canary, and
#      `pio run` where pio is installed; skipped, never passed, where ../shared is absent).
# Last line: "firmware: N passed, N failed, N skipped" (doctest test cases + 1 for the cross-size
# check + the Python tests + the glue checks; a failed simulator build adds one failure). Exit
# status non-zero on any failure.
# Needs: g++ doctest-dev nlohmann-json3-dev gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
#        python3 gcc-arm-none-eabi libnewlib-dev libstdc++-arm-none-eabi-dev
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
skipped=0

# --- 1. core tests -----------------------------------------------------------------------------
# test/glue_canary holds ESP32 sources for the glue check, not host tests.
mapfile -t sources < <(find "$FW/lib" "$FW/test/test_core" -name '*.cpp' | sort)
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

# --- 4. build-flag derivation tests ------------------------------------------------------------
py_log="$OUT/build_flags_test.log"
python3 scripts/firmware_build_flags_test.py 2>&1 | tee "$py_log"
py_status=${PIPESTATUS[0]}
ran=$(sed -nE 's/^Ran ([0-9]+) tests?.*/\1/p' "$py_log" | tail -1)
if [ -n "$ran" ]; then
  bad=$(grep -E '^FAILED \(' "$py_log" | grep -oE '(failures|errors)=[0-9]+' | awk -F= '{n += $2} END {print n + 0}')
  [ "$py_status" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
  passed=$((passed + ran - (bad < ran ? bad : ran)))
  failed=$((failed + bad))
else
  echo "firmware: the build-flag tests did not run (see above)"
  failed=$((failed + 1))
fi

# --- 5. glue compile check -----------------------------------------------------------------------
glue_log="$OUT/glue_check.log"
bash scripts/firmware-glue-check.sh 2>&1 | tee "$glue_log"
glue_status=${PIPESTATUS[0]}
glue=$(grep -E '^glue: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$glue_log" | tail -1)
if [ -n "$glue" ]; then
  read -r gp gf gs < <(echo "$glue" | sed -E 's/^glue: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')
  [ "$glue_status" -ne 0 ] && [ "$gf" -eq 0 ] && gf=1
  passed=$((passed + gp))
  failed=$((failed + gf))
  skipped=$((skipped + gs))
else
  echo "firmware: the glue check printed no count (see above)"
  failed=$((failed + 1))
fi

echo "firmware: ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
