#!/usr/bin/env bash
# The gateway's node:test suites. Prints the spec report, then `gateway: N passed, N failed`.
# Arguments narrow the run: `bash scripts/test-gateway.sh test/ingest-*.test.ts`.
set -uo pipefail
cd "$(dirname "$0")/.."
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(test/*.test.ts)
tap=$(mktemp)
# Files run one at a time: several suites start redis-servers, gateways and network namespaces,
# and a 2-core machine gives clearer failures serially than interleaved.
node --import tsx --test --test-concurrency=1 --test-timeout=600000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${files[@]}"
rc=$?
pass=$(grep -E '^# pass [0-9]+' "$tap" | tail -1 | awk '{print $3}')
fail=$(grep -E '^# fail [0-9]+' "$tap" | tail -1 | awk '{print $3}')
skip=$(grep -E '^# skipped [0-9]+' "$tap" | tail -1 | awk '{print $3}')
cancelled=$(grep -E '^# cancelled [0-9]+' "$tap" | tail -1 | awk '{print $3}')
rm -f "$tap"
pass=${pass:-0}; fail=$(( ${fail:-0} + ${cancelled:-0} ))
# A runner that died before reporting is a failure, not a silent zero.
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "gateway: $pass passed, $fail failed, ${skip:-0} skipped"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
