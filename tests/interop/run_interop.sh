#!/usr/bin/env bash
# run_interop.sh BIN_DIR GUEST_COMMAND - one interop guest run: builds (or takes from the cache)
# the kernel's rtrs/rnbd modules for the guest's kernel (scripts/kernel-peer/build-modules.sh),
# stages them with ibnbd's daemons, the tools the guest scripts use and tests/interop/guest/ in a
# directory, and boots the SoftRoCE guest of scripts/rxe/run-rxe-vm.sh to run GUEST_COMMAND there
# (e.g. 'bash ./kernel_client.sh'). Prints each check's PASS/FAIL line and the run's duration.
#
# Exit: the guest command's code; 77 (skipped, with the reason) where qemu cannot run the guest,
# or the kernel's sources/headers cannot be installed here; 1 when the module build fails.
# Env: INTEROP_KPKG           the guest kernel package (default: the rxe guest's, linux-image-amd64's)
#      INTEROP_KERNEL_SERIES  instead: the newest Debian 12 kernel of that series (6.12: from
#                             bookworm's updates, linux-image-6.12.N+deb12-amd64)
#      INTEROP_QUICK=1        the guest scripts' short list (tests/interop/guest/lib.sh)
#      RXE_VM_*               as scripts/rxe/run-rxe-vm.sh (RXE_VM_TIMEOUT: the guest's deadline)
set -uo pipefail
BIN=$(cd "$1" && pwd)
CMD=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }

command -v "${RXE_VM_QEMU:-qemu-system-x86_64}" >/dev/null ||
    skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86, or scripts/install-deps.sh)"
declare -A tool_paths
for tool in mke2fs e2fsck nbd-client blkdiscard dd cmp; do
    tool_paths[$tool]=$(PATH=$PATH:/usr/sbin:/sbin command -v "$tool") ||
        skip "$tool is not installed (scripts/install-deps.sh)"
done

if [ -n "${INTEROP_KERNEL_SERIES:-}" ] && [ -z "${INTEROP_KPKG:-}" ]; then
    INTEROP_KPKG=$(bash "$ROOT/scripts/rxe/kernel-package.sh" "$INTEROP_KERNEL_SERIES") ||
        skip "no Debian kernel package of the $INTEROP_KERNEL_SERIES series (linux-image-$INTEROP_KERNEL_SERIES.*-amd64) in the package lists"
    echo "interop: kernel $INTEROP_KPKG"
fi
t0=$(date +%s)
if [ -n "${INTEROP_KPKG:-}" ]; then export RXE_VM_KPKG=$INTEROP_KPKG; fi
export RXE_VM_PASSENV="${RXE_VM_PASSENV:-} INTEROP_QUICK"
KMOD=$(bash "$ROOT/scripts/kernel-peer/build-modules.sh" ${RXE_VM_KPKG:-})
rc=$?
[ $rc = 0 ] || exit $rc
echo "interop: kernel modules from $KMOD ($(( $(date +%s) - t0 ))s)"

STAGE=$(mktemp -d /tmp/ibnbd-interop.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/kmod" "$STAGE/bin"
cp "$KMOD"/*.ko "$STAGE/kmod/"
for program in ibnbd-server ibnbd-client ibnbd; do objcopy --strip-debug "$BIN/$program" "$STAGE/$program"; done
cp "${tool_paths[nbd-client]}" "$STAGE/"
for tool in mke2fs e2fsck blkdiscard dd cmp; do cp "${tool_paths[$tool]}" "$STAGE/bin/"; done
cp "$ROOT"/tests/interop/guest/*.sh "$STAGE/"

t1=$(date +%s)
RXE_VM_MEM=${RXE_VM_MEM:-2048} "$ROOT/scripts/rxe/run-rxe-vm.sh" "$STAGE" "$CMD"
rc=$?
echo "interop: guest run '$CMD' took $(( $(date +%s) - t1 ))s (exit $rc)"
exit $rc
