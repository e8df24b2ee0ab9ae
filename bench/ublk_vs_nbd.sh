#!/usr/bin/env bash
# ublk_vs_nbd.sh [BIN_DIR] - the three ways a program reaches a mapped volume, side by side in one
# SoftRoCE guest on Debian 12's 6.12 kernel (scripts/rxe/run-rxe-vm.sh): /dev/ublkbN (the ublk
# export), /dev/nbd0 (the NBD export through the kernel's nbd-client) and the IBNBD client
# in-process (ibnbd-bench ibnbd://), over verbs on rxe0. Prints a Markdown table (4 KiB randread
# and randwrite, QD1 and QD32): bench/README.md keeps one. Under qemu TCG absolute figures mean
# little; the ratios of one run do.
#   BIN_DIR        where ibnbd-server, ibnbd-client, ibnbd and ibnbd-bench are (build/bin)
#   BENCH_RUNTIME  seconds per measurement (5)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:-$ROOT/build/bin}" && pwd)
STAGE=$(mktemp -d /tmp/ibnbd-ublk-bench.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
for program in ibnbd-server ibnbd-client ibnbd ibnbd-bench; do objcopy --strip-debug "$BIN/$program" "$STAGE/$program"; done
cp "$(PATH=$PATH:/usr/sbin:/sbin command -v nbd-client)" "$STAGE/" || { echo "nbd-client is not installed"; exit 1; }
cp "$ROOT/bench/ublk_vs_nbd_guest.sh" "$STAGE/"
RXE_VM_KPKG=$(bash "$ROOT/scripts/rxe/kernel-package.sh" 6.12) || { echo "no 6.12 kernel package known (apt-get update)"; exit 1; }
export RXE_VM_KPKG RXE_VM_PASSENV="${RXE_VM_PASSENV:-} BENCH_RUNTIME"
RXE_VM_MEM=${RXE_VM_MEM:-2048} RXE_VM_TIMEOUT=${RXE_VM_TIMEOUT:-900} "$ROOT/scripts/rxe/run-rxe-vm.sh" "$STAGE" \
    'bash ./ublk_vs_nbd_guest.sh'
