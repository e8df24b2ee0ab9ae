#!/usr/bin/env bash
# The main job: installs dependencies, builds the default preset and runs the failover showcase on
# the deterministic simulator. Extra arguments go to ibnbd-demo (e.g. --seed 7 -v).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)" --target ibnbd-demo
exec build/bin/ibnbd-demo "$@"
