#!/usr/bin/env bash
# Installs what the tests need on Debian/Raspberry Pi OS: system packages (as root, or via sudo)
# and the Node packages from the lockfile. `--force` always runs apt-get (CI starts from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd-container: the real-systemd test (../shared/tools/real-systemd); faketime: the clock-jump
# chaos test. avahi-daemon runs only inside the network namespaces the discovery tests create;
# mosquitto only as the MQTT tests start it (own config, free port), never as the machine's
# service on 1883. chromium (Debian's, /usr/bin/chromium) is the browser the status page's test
# drives through playwright-core, which never downloads a browser of its own.
# gcc-arm-none-eabi + newlib + libstdc++: the firmware glue's compile check against the ESP32
# core headers (scripts/firmware-glue-check.sh, ../shared/esp32-sdk/check-glue).
PACKAGES=(redis-server g++ make python3 doctest-dev nlohmann-json3-dev gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf systemd systemd-container faketime iproute2 procps avahi-daemon avahi-utils dbus mosquitto chromium
          gcc-arm-none-eabi libnewlib-dev libstdc++-arm-none-eabi-dev)
force=${1:-}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "$force" = "--force" ] || [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install as root: apt-get install -y ${missing[*]}" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
fi

# npm ci only when node_modules does not hold exactly the lockfile's packages: it is slow on a Pi.
source scripts/node-deps.sh
ensure_node_modules "$force"
