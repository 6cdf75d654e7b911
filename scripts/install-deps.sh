#!/usr/bin/env bash
# Installs what the tests need on Debian/Raspberry Pi OS: system packages (as root, or via sudo)
# and the Node packages from the lockfile. `--force` always runs apt-get (CI starts from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."

# avahi-daemon runs only inside the network namespaces the discovery tests create.
# gcc-arm-none-eabi + newlib + libstdc++: the firmware glue's compile check against the ESP32
# core headers (scripts/firmware-glue-check.sh, ../shared/esp32-sdk/check-glue).
PACKAGES=(redis-server g++ make python3 doctest-dev nlohmann-json3-dev gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf systemd iproute2 procps avahi-daemon avahi-utils dbus
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

# npm ci only when node_modules is missing or older than the lockfile: it is slow on a Pi.
if [ "$force" = "--force" ] || [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
