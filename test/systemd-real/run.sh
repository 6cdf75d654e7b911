#!/usr/bin/env bash
# The installed service under a real systemd (PID 1), run by test/systemd-real.test.ts through
# ../shared/tools/real-systemd. Installs with deploy/install.sh in real mode (the container has no
# registry: --offline copies the checkout's node_modules), then checks what an operator relies on.
# One line per check, `ok - ...` or `not ok - ...`; the exit status is the number of failures.
set -uo pipefail
fails=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }
prop() { systemctl show -p "$1" --value iotgw.service; }
post() { curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d "$1" http://127.0.0.1:3000/telemetry; }
batch3='[{"device_id":"sd-1","group_id":"sd"},{"device_id":"sd-2","group_id":"sd"},{"device_id":"sd-3","group_id":"sd"}]'
wait_for() { local n=$1; shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.5; done; return 1; }
set_batch() { sed -i -E '/^  max_batch:/d' /etc/iotgw/config.yaml; sed -i -E "s/^ingest:\$/ingest:\n  max_batch: $1/" /etc/iotgw/config.yaml; }

# A writable copy: the project is bound read-only, and install.sh builds dist/ in its stage.
src=/tmp/iotgw-src
mkdir -p "$src"
tar -C /src/project --exclude=./.git --exclude=./data --exclude=./firmware/.build -cf - . | tar -C "$src" -xf -
if bash "$src/deploy/install.sh" --offline --no-start >/tmp/install.log 2>&1; then ok "deploy/install.sh (real mode) installed"; else notok "deploy/install.sh failed: $(tail -5 /tmp/install.log)"; exit 1; fi
# Quiet in the container's private network, and a short watchdog so the test does not wait 30 s.
sed -i -E 's/^(  enabled:) true/\1 false/' /etc/iotgw/config.yaml
mkdir -p /etc/systemd/system/iotgw.service.d
printf '[Service]\nWatchdogSec=4s\n' > /etc/systemd/system/iotgw.service.d/test.conf
systemctl daemon-reload

# 1. start returns only after READY=1, and then the port answers at once (no retry).
if systemctl start iotgw.service; then ok "systemctl start returned success"; else notok "systemctl start failed: $(journalctl -u iotgw --no-pager | tail -5)"; fi
check "the port answers as soon as start returned" curl -sf -o /dev/null http://127.0.0.1:3000/healthz
check "the unit is active (Type=notify: READY=1 arrived)" test "$(prop ActiveState)" = active

# 2. STATUS= from the daemon.
wait_for 20 bash -c '[[ "$(systemctl show -p StatusText --value iotgw.service)" == *readings/min* ]]'
check "STATUS= is shown by systemctl: '$(prop StatusText)'" bash -c '[[ "$(systemctl show -p StatusText --value iotgw.service)" == *readings/min* ]]'

# 3. reload applies a changed limit; a bad file is refused and the running config stays.
check "a batch of 3 is accepted before the reload" test "$(post "$batch3")" = 202
pid=$(prop MainPID)
set_batch 2
systemctl reload iotgw.service
check "systemctl reload applied ingest.max_batch: 2 (a batch of 3 is 413)" wait_for 20 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d '$batch3' http://127.0.0.1:3000/telemetry)\" = 413 ]"
cp /etc/iotgw/config.yaml /tmp/good.yaml
set_batch lots
systemctl reload iotgw.service
check "a bad file on reload is logged with its path" wait_for 20 bash -c "journalctl -u iotgw --no-pager | grep -q 'ingest.max_batch: must be an integer'"
check "after the bad reload the same process runs" test "$(prop MainPID)" = "$pid"
check "and the running limit (2) still applies" test "$(post '[{"device_id":"sd-1","group_id":"sd"},{"device_id":"sd-2","group_id":"sd"}]')" = 202
check "and the batch of 3 is still refused" test "$(post "$batch3")" = 413
cp /tmp/good.yaml /etc/iotgw/config.yaml

# 4. SIGSTOP: the watchdog pings stop, systemd kills the daemon and starts a new one.
restarts=$(prop NRestarts)
kill -STOP "$pid"
check "after SIGSTOP the watchdog restarted the daemon (new MainPID)" wait_for 60 bash -c "p=\$(systemctl show -p MainPID --value iotgw.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && [ \"\$(systemctl show -p ActiveState --value iotgw.service)\" = active ]"
check "the journal says it was the watchdog" bash -c "journalctl -u iotgw --no-pager | grep -qi 'watchdog timeout'"
check "NRestarts went up" test "$(prop NRestarts)" -gt "$restarts"
check "the restarted daemon answers" wait_for 20 curl -sf -o /dev/null http://127.0.0.1:3000/healthz

# 5. stop ends clean.
systemctl stop iotgw.service
check "systemctl stop: Result=success" test "$(prop Result)" = success
check "systemctl stop: the main process exited 0" test "$(prop ExecMainStatus)" = 0
check "the daemon logged a clean stop" bash -c "journalctl -u iotgw --no-pager | tail -20 | grep -q 'stopped cleanly'"

# 6. A bad config: exit 78 and no restart loop.
systemctl reset-failed iotgw.service 2>/dev/null
sed -i -E 's#^(  url:) redis://.*#\1 http://localhost:6379#' /etc/iotgw/config.yaml
if systemctl start iotgw.service 2>/dev/null; then notok "start with a bad config should fail"; else ok "start with a bad config fails"; fi
sleep 6   # three RestartSec=2s periods: a restart loop would show in NRestarts
check "the daemon exited 78 (EX_CONFIG)" test "$(prop ExecMainStatus)" = 78
check "no restart loop (NRestarts=$(prop NRestarts))" test "$(prop NRestarts)" = 0
check "the unit is left failed, not activating ($(prop ActiveState))" test "$(prop ActiveState)" = failed
check "the journal names the bad key" bash -c "journalctl -u iotgw --no-pager | grep -q 'redis.url: must be a redis:// URL or none'"

echo "systemd-real: $fails failed"
exit "$fails"
