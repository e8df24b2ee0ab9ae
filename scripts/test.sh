#!/usr/bin/env bash
# The test command: installs dependencies, configures and builds the default preset, runs every
# ctest suite. Extra arguments go to ctest (e.g. `scripts/test.sh -L unit`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)"
ctest --preset default -j "$(nproc)" "$@"
