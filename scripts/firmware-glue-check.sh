#!/usr/bin/env bash
# Compile check of the Arduino glue: every firmware/src/*.cpp is type-checked against the real
# headers of the ESP32 Arduino core 2.0.14, WiFiManager 2.0.17 and WebSockets 2.6.1 with
# ../shared/esp32-sdk/check-glue (arm-none-eabi-g++ -fsyntax-only; see its README), using the
# flags of [env:esp32dev] in firmware/platformio.ini (derived by firmware_build_flags.py, never
# copied by hand) plus -Werror, so a warning in our own code fails like an error (the SDK's
# headers come in as system headers and stay quiet).
#
# Counted tests, each one line "ok"/"FAIL"/"SKIP":
#   - one per firmware/src/*.cpp;
#   - one per firmware/test/glue_canary/*.cpp, whose first line says what the check must do with
#     it (`// expect: pass` or `// expect: fail "text in the compiler output"`): proof that the
#     check fails on a broken file and that the derived flags reach the compiler;
#   - `pio run -e esp32dev` when pio is on the PATH (skipped otherwise).
# Where ../shared is absent (a user's clone) nothing can be checked: every file is counted as
# skipped, never as passed. Last line: "glue: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

FW=firmware
SDK=${ESP32_SDK_DIR:-../shared/esp32-sdk}
# check-glue reads $CXX; a caller's host compiler (test-firmware.sh exports CXX=g++) must not
# stand in for the 32-bit newlib target.
export CXX=${ESP32_GLUE_CXX:-arm-none-eabi-g++}
passed=0
failed=0
skipped=0
mapfile -t glue < <(find "$FW/src" -maxdepth 1 -name '*.cpp' | sort)
mapfile -t canaries < <(find "$FW/test/glue_canary" -maxdepth 1 -name '*.cpp' | sort)

finish() {
  echo "glue: ${passed} passed, ${failed} failed, ${skipped} skipped"
  [ "$failed" -eq 0 ]
  exit
}

check_pio() {
  if ! command -v pio >/dev/null; then
    echo "SKIP pio run -e esp32dev (pio is not on the PATH)"
    skipped=$((skipped + 1))
  elif (cd "$FW" && pio run -e esp32dev); then
    echo "ok   pio run -e esp32dev"
    passed=$((passed + 1))
  else
    echo "FAIL pio run -e esp32dev"
    failed=$((failed + 1))
  fi
}

if [ ! -x "$SDK/check-glue" ]; then
  echo "glue: $SDK/check-glue not found (this clone has no ../shared beside it):" \
       "${#glue[@]} glue files and ${#canaries[@]} canaries NOT compile-checked, counted as skipped"
  skipped=$((skipped + ${#glue[@]} + ${#canaries[@]}))
  check_pio
  finish
fi

if ! flags_text=$(python3 scripts/firmware_build_flags.py "$FW/platformio.ini" esp32dev); then
  echo "glue: cannot derive the build flags from $FW/platformio.ini (see above): every file fails"
  failed=$((failed + ${#glue[@]} + ${#canaries[@]}))
  check_pio
  finish
fi
mapfile -t flags <<<"$flags_text"
echo "glue: flags of [env:esp32dev]: ${flags[*]}"
includes=(-I"$FW/src" -I"$FW/lib/iotgw_core/src")

# Runs check-glue on one file; sets $out and returns its status (0 clean, 1 errors, 2 cannot run).
# check-glue's own "ok"/"FAIL" line is dropped: this script prints its own verdict.
compile() {
  local rc
  out=$("$SDK/check-glue" "${flags[@]}" -Werror "${includes[@]}" "$1" 2>&1)
  rc=$?
  out=$(grep -vxF -e "ok   $1" -e "FAIL $1" <<<"$out")
  return $rc
}

# verdict OK LABEL [WHY]: counts one test, printing the compiler's output when it failed.
verdict() {
  if [ "$1" -eq 1 ]; then
    echo "ok   $2"
    passed=$((passed + 1))
  else
    echo "$out"
    echo "FAIL $2${3:+: $3}"
    failed=$((failed + 1))
  fi
}

for f in "${glue[@]}"; do
  if compile "$f"; then verdict 1 "$f"; else verdict 0 "$f"; fi
done

for f in "${canaries[@]}"; do
  expect=$(head -1 "$f")
  compile "$f"
  rc=$?
  case "$expect" in
    "// expect: pass")
      if [ "$rc" -eq 0 ]; then ok=1; else ok=0; fi ;;
    "// expect: fail \""*\")
      needle=${expect#// expect: fail \"}
      needle=${needle%\"}
      if [ "$rc" -eq 1 ] && grep -qF -- "$needle" <<<"$out"; then ok=1; else ok=0; fi ;;
    *)
      echo "canary $f: first line must be '// expect: pass' or '// expect: fail \"...\"'"
      ok=0 ;;
  esac
  verdict "$ok" "canary $f ($expect)" "the check did not do what it says (check-glue exit $rc)"
done

check_pio
finish
