#!/usr/bin/env bash
# Builds the host simulator: the portable core + POSIX sockets, no other dependencies.
# Output: firmware/.build/iotgw-sim
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
CXX=${CXX:-g++}
"$CXX" -std=c++17 -O2 -g -Wall -Wextra -Werror -pthread -Ilib/iotgw_core/src \
  lib/iotgw_core/src/*.cpp sim/*.cpp -o .build/iotgw-sim.tmp
mv .build/iotgw-sim.tmp .build/iotgw-sim
echo "sim: built firmware/.build/iotgw-sim"
