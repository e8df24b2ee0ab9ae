#!/usr/bin/env bash
# always_invalidate.sh [BIN_DIR] - what per-request chunk keys cost: one SoftRoCE guest (Debian 12's
# 6.12 kernel, scripts/rxe/run-rxe-vm.sh) with two ibnbd-servers over verbs on rxe0, one with
# --always-invalidate on (the default) and one with off, and ibnbd-bench in-process (ibnbd://, the
# IBNBD client itself) on each: 4 KiB randread and randwrite at QD1 and QD32, the two servers
# measured in turn for each workload. Prints a Markdown table (IOPS and p50 on and off, on/off):
# bench/README.md keeps one, beside ibtrs_io_bench's ns per IO of both modes. Under qemu TCG absolute
# figures mean little; the ratios of one run do.
#   BIN_DIR        where ibnbd-server and ibnbd-bench are (build/bin)
#   BENCH_RUNTIME  seconds per measurement (5)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:-$ROOT/build/bin}" && pwd)
STAGE=$(mktemp -d /tmp/ibnbd-ai-bench.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
for program in ibnbd-server ibnbd-bench; do objcopy --strip-debug "$BIN/$program" "$STAGE/$program"; done
cp "$ROOT/bench/always_invalidate_guest.sh" "$STAGE/"
RXE_VM_KPKG=$(bash "$ROOT/scripts/rxe/kernel-package.sh" 6.12) || { echo "no 6.12 kernel package known (apt-get update)"; exit 1; }
export RXE_VM_KPKG RXE_VM_PASSENV="${RXE_VM_PASSENV:-} BENCH_RUNTIME"
RXE_VM_MEM=${RXE_VM_MEM:-2048} RXE_VM_TIMEOUT=${RXE_VM_TIMEOUT:-900} "$ROOT/scripts/rxe/run-rxe-vm.sh" "$STAGE" \
    'bash ./always_invalidate_guest.sh'
