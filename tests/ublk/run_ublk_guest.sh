#!/usr/bin/env bash
# run_ublk_guest.sh BIN_DIR - the ublk export in the SoftRoCE guest of scripts/rxe/run-rxe-vm.sh
# booted with Debian 12's 6.12 kernel (which has ublk_drv; the 6.1 kernel does not build it):
# tests/ublk/ublk_guest.sh over verbs on rxe0 (two paths), then over libfabric tcp.
# Exit: the guest's code; 77 (skipped, with the reason) where qemu cannot boot the guest, a tool
# is missing here, or no 6.12 kernel package is in the package lists.
set -uo pipefail
BIN=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
command -v "${RXE_VM_QEMU:-qemu-system-x86_64}" >/dev/null ||
    skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86, or scripts/install-deps.sh)"
STAGE=$(mktemp -d /tmp/ibnbd-ublk.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin"
for tool in mke2fs e2fsck blkdiscard dd cmp; do
    path=$(PATH=$PATH:/usr/sbin:/sbin command -v "$tool") || skip "$tool is not installed (scripts/install-deps.sh)"
    cp "$path" "$STAGE/bin/"
done
for program in ibnbd-server ibnbd-client ibnbd; do objcopy --strip-debug "$BIN/$program" "$STAGE/$program"; done
# ibnbd-bench (bench/, built with the default preset) adds a verified random-IO check.
[ -x "$BIN/ibnbd-bench" ] && objcopy --strip-debug "$BIN/ibnbd-bench" "$STAGE/ibnbd-bench"
cp "$ROOT/tests/ublk/ublk_guest.sh" "$STAGE/"
RXE_VM_KPKG=$(bash "$ROOT/scripts/rxe/kernel-package.sh" 6.12) ||
    skip "no Debian 12 kernel package of the 6.12 series (linux-image-6.12.*-amd64) in the package lists (apt-get update)"
export RXE_VM_KPKG
echo "ublk: guest kernel $RXE_VM_KPKG"
t0=$(date +%s)
RXE_VM_MEM=${RXE_VM_MEM:-2048} "$ROOT/scripts/rxe/run-rxe-vm.sh" "$STAGE" \
    'bash ./ublk_guest.sh verbs; verbs=$?; bash ./ublk_guest.sh tcp; tcp=$?; [ $verbs = 0 ] && exit $tcp; exit $verbs'
rc=$?
echo "ublk: guest run took $(( $(date +%s) - t0 ))s (exit $rc)"
exit $rc
