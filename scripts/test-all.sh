#!/usr/bin/env bash
# Every suite, then one closing line `N passed, N failed` summing them; non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
# The type check counts as one test: strict types are part of the contract between the parts.
# The status page's sources (gateway/status/web) are checked on their own, with the DOM's types.
if { node_modules/.bin/tsc --noEmit -p . && node_modules/.bin/tsc --noEmit -p gateway/status/web; } 2>&1 | tee "$out/tsc"; then tp=1; tf=0; else tp=0; tf=1; fi
[ -s "$out/tsc" ] && { tp=0; tf=1; }
echo "typecheck: $tp passed, $tf failed"
bash scripts/test-gateway.sh 2>&1 | tee "$out/gateway"; g=${PIPESTATUS[0]}
bash scripts/test-firmware.sh 2>&1 | tee "$out/firmware"; f=${PIPESTATUS[0]}
count() { grep -E "^$1: [0-9]+ passed, [0-9]+ failed" "$out/$1" | tail -1 | sed -E "s/^$1: ([0-9]+) passed, ([0-9]+) failed.*/\\$2/"; }
gp=$(count gateway 1); gf=$(count gateway 2); fp=$(count firmware 1); ff=$(count firmware 2)
# A suite that printed no count did not run: count it as one failure.
[ -z "$gp" ] && { gp=0; gf=1; }
[ -z "$fp" ] && { fp=0; ff=1; }
[ "$g" -ne 0 ] && [ "$gf" -eq 0 ] && gf=1
[ "$f" -ne 0 ] && [ "$ff" -eq 0 ] && ff=1
rm -rf "$out"
echo "$((tp + gp + fp)) passed, $((tf + gf + ff)) failed"
[ $((tf + gf + ff)) -eq 0 ]
