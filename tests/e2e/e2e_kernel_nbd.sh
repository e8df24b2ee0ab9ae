#!/usr/bin/env bash
# The kernel's nbd-client against the NBD export. This machine's kernel has no nbd module, so the
# test boots a stock Debian kernel (which has one) in the qemu guest of scripts/rxe/run-rxe-vm.sh
# and runs tests/e2e/kernel_nbd_guest.sh there twice: the daemons over libfabric tcp on the guest's
# loopback, then over verbs on SoftRoCE with two paths (one deleted under IO and added back);
# each time /dev/nbd0 attached with nbd-client, ext4 made, used and checked with fsck -f.
# Skipped (77) where nbd-client or e2fsprogs are missing, or qemu cannot boot the guest.
BIN=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
for tool in nbd-client mke2fs e2fsck; do
    path=$(PATH=$PATH:/usr/sbin:/sbin command -v "$tool") || skip "$tool is not installed (scripts/install-deps.sh)"
done
STAGE=$(mktemp -d /tmp/ibnbd-knbd.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
for program in ibnbd-server ibnbd-client ibnbd; do objcopy --strip-debug "$BIN/$program" "$STAGE/$program"; done
for tool in nbd-client mke2fs e2fsck; do cp "$(PATH=$PATH:/usr/sbin:/sbin command -v "$tool")" "$STAGE/"; done
cp "$ROOT/tests/e2e/kernel_nbd_guest.sh" "$STAGE/"
RXE_VM_TIMEOUT=${RXE_VM_TIMEOUT:-300} "$ROOT/scripts/rxe/run-rxe-vm.sh" "$STAGE" \
    './kernel_nbd_guest.sh tcp && ./kernel_nbd_guest.sh verbs' 
rc=$?
[ $rc = 0 ] && echo "1 passed, 0 failed"
exit $rc
