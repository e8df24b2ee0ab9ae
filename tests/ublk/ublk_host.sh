#!/usr/bin/env bash
# ublk_host.sh BIN_DIR - tests/ublk/ublk_guest.sh over libfabric tcp on this machine, when it can
# add ublk devices (root and /dev/ublk-control, i.e. Linux 6.0+ with ublk_drv loaded); otherwise
# skipped (77) with the reason: ublk.guest612 covers ublk in a guest that has it.
BIN=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "adding ublk devices needs root"
[ -e /dev/ublk-control ] || modprobe ublk_drv 2>/dev/null
[ -e /dev/ublk-control ] ||
    skip "this host's kernel ($(uname -r)) has no ublk (/dev/ublk-control is missing: Linux 6.0+ with ublk_drv); ublk.guest612 tests ublk in the 6.12 guest"
for tool in mke2fs e2fsck blkdiscard; do
    PATH=$PATH:/usr/sbin:/sbin command -v "$tool" > /dev/null || skip "$tool is not installed (scripts/install-deps.sh)"
done
STAGE=$(mktemp -d /tmp/ibnbd-ublk-host.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
for program in ibnbd-server ibnbd-client ibnbd; do cp "$BIN/$program" "$STAGE/"; done
[ -x "$BIN/ibnbd-bench" ] && cp "$BIN/ibnbd-bench" "$STAGE/"
cp "$ROOT/tests/ublk/ublk_guest.sh" "$STAGE/"
PATH=$PATH:/usr/sbin:/sbin bash "$STAGE/ublk_guest.sh" tcp
