#!/usr/bin/env bash
# The main job: installs dependencies, builds the default preset and runs the showcase scenario
# (sim-scenarios/scenarios/showcase.yaml) on the deterministic simulator: failover under load,
# then a server crash and restart. It prints the event timeline and a report (paths, failovers,
# IO counts, latency percentiles, data verified) and writes a Perfetto trace and a CSV timeline.
# Extra arguments go to `ibtrs-sim run` (e.g. --seed 7, -vv for core logs).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)" --target ibtrs-sim

seed=(--seed 1)
for arg in "$@"; do
  case "$arg" in --seed|--seed=*|--seeds|--seeds=*) seed=() ;; esac
done
exec build/bin/ibtrs-sim run showcase "${seed[@]}" -v \
  --trace build/showcase-trace.json --timeline build/showcase-timeline.csv "$@"
