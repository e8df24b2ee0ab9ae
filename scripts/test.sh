#!/usr/bin/env bash
# The test command: installs dependencies, configures and builds the default preset, runs every
# ctest suite, then the asan and tsan presets. Extra arguments go to the default preset's
# ctest and skip the other presets (e.g. `scripts/test.sh -L unit`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)"
ctest --preset default -j "$(nproc)" "$@"

# With no arguments, the whole run: the unit, conformance, sim and scenario suites and every fuzz
# target (briefly) under ASan+UBSan, then the daemons' e2e tests under ThreadSanitizer. Each
# preset's test filter is in CMakePresets.json.
if [ $# -eq 0 ]; then
  cmake --preset asan
  cmake --build --preset asan -j "$(nproc)"
  ctest --preset asan -j "$(nproc)"
  cmake --preset tsan
  cmake --build --preset tsan -j "$(nproc)"
  ctest --preset tsan
fi
