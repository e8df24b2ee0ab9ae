#!/usr/bin/env bash
# guest_side_by_side.sh [BIN_DIR] - ibnbd against the real peers on the same medium: one SoftRoCE
# guest on Debian 12's 6.12 kernel (scripts/rxe/run-rxe-vm.sh) runs the kernel's RNBD (both
# always_invalidate settings, the kernel peer's modules: scripts/kernel-peer), NVMe-oF over RDMA
# and over TCP, nbdkit through the kernel's nbd device, and ibnbd through ublk, through its NBD
# export and in-process, all over one brd RAM disk, with fio (ibnbd-bench for the in-process
# client): 4 KiB randread and randwrite at QD1 and QD32, 128 KiB sequential read and write at
# QD8 (bench/guest_side_by_side_guest.sh). Writes bench/results/guest-latest.{md,svg,json}: IOPS,
# p50/p99 latency and CPU time per IO, with ratios to the kernel's RNBD (always_invalidate=Y, as
# ibnbd's default on verbs). Under qemu TCG absolute figures mean little; the ratios of one run do.
#   BIN_DIR        where ibnbd-server, ibnbd-client, ibnbd and ibnbd-bench are (build/bin)
#   BENCH_RUNTIME  seconds per measurement (5)
#   BENCH_QUICK=1  one workload per target, results in a temporary directory (ctest bench-guest)
#   BENCH_NOSPIN=1 also the ibnbd targets with --spin-polls 0 (what busy polling costs per IO)
#   BENCH_PROFILE=1 also a perf profile of each target's 4 KiB randread QD1
#                   (bench/results/guest-latest-profile.txt, with BENCH_QUICK=1 too)
# Exit: 0, 1 on a failed measurement, 77 when the guest, fio or the kernel peer cannot be had here.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:-$ROOT/build/bin}" && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
for tool in fio nbdkit nbd-client python3; do
    PATH=$PATH:/usr/sbin:/sbin command -v "$tool" > /dev/null || skip "$tool is not installed (scripts/install-deps.sh)"
done
PLUGIN=$(nbdkit file --dump-plugin 2>/dev/null | sed -n 's/^path=//p')
[ -f "$PLUGIN" ] || skip "nbdkit's file plugin not found"
KPKG=$(bash "$ROOT/scripts/rxe/kernel-package.sh" 6.12) || skip "no 6.12 kernel package known (apt-get update)"
KMOD=$(bash "$ROOT/scripts/kernel-peer/build-modules.sh" "$KPKG")
rc=$?
[ $rc = 0 ] || exit $rc

STAGE=$(mktemp -d /tmp/ibnbd-guest-sbs.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/kmod"
cp "$KMOD"/*.ko "$STAGE/kmod/"
for program in ibnbd-server ibnbd-client ibnbd ibnbd-bench; do objcopy --strip-debug "$BIN/$program" "$STAGE/$program"; done
cp "$(command -v fio)" "$(command -v nbdkit)" "$PLUGIN" "$(PATH=$PATH:/usr/sbin:/sbin command -v nbd-client)" "$STAGE/"
cp "$ROOT/bench/guest_side_by_side_guest.sh" "$ROOT/tests/interop/guest/lib.sh" "$STAGE/"
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
    perf=$(command -v perf) || skip "BENCH_PROFILE=1 needs perf (apt-get install linux-perf)"
    cp "$(readlink -f "$perf")" "$STAGE/perf"  # Debian's real binary, not its per-kernel wrapper
fi

if [ "${BENCH_QUICK:-0}" = 1 ]; then OUT=$STAGE/results/guest-quick; else OUT=$ROOT/bench/results/guest-latest; fi
mkdir -p "$(dirname "$OUT")"
LOG=$STAGE/guest.log
export RXE_VM_KPKG=$KPKG RXE_VM_PASSENV="${RXE_VM_PASSENV:-} BENCH_RUNTIME BENCH_QUICK BENCH_NOSPIN BENCH_PROFILE"
RXE_VM_MEM=${RXE_VM_MEM:-2048} RXE_VM_TIMEOUT=${RXE_VM_TIMEOUT:-2400} "$ROOT/scripts/rxe/run-rxe-vm.sh" "$STAGE" \
    'bash ./guest_side_by_side_guest.sh' | tee "$LOG" | grep -v '^SBS-RESULT'
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || { echo "guest_side_by_side: the guest run failed (exit $rc)"; exit "$rc"; }
python3 "$ROOT/bench/guest_side_by_side_report.py" "$LOG" "$OUT" || exit 1
PROFILE=$ROOT/bench/results/guest-latest-profile.txt
if [ "${BENCH_PROFILE:-0}" = 1 ]; then sed -n 's/^SBS-PROFILE //p' "$LOG" > "$PROFILE" && echo "profile: $PROFILE"; fi
cat "$OUT.md"
