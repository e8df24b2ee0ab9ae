#!/usr/bin/env bash
# A file system on a mapped volume: nbdfuse exposes the NBD export as a file, losetup makes it a
# block device, mkfs.ext4 + mount + write files + umount, then fsck -f must find it clean.
BIN=$1; source "$(dirname "$0")/lib.sh"
need nbdfuse losetup mkfs.ext4 fsck.ext4 mount umount fusermount3
[ -c /dev/fuse ] || skip "/dev/fuse is missing (no FUSE in this kernel or container)"
[ -e /dev/loop-control ] || skip "loop devices are missing (/dev/loop-control)"
[ "$(id -u)" = 0 ] || skip "needs root for losetup and mount"
mkdir -p "$WORK/vols" "$WORK/fuse" "$WORK/mnt" && truncate -s 256M "$WORK/vols/vol0"
start_server
start_client
"$BIN/ibnbd" map --session fs --path "127.0.0.1:$PORT" --device vol0 || fail "map"
nbdfuse "$WORK/fuse/disk" "$(uri fs vol0)" > "$WORK/nbdfuse.log" 2>&1 &
FUSE=$!
wait_for 10 test -e "$WORK/fuse/disk" || { kill $FUSE; skip "nbdfuse could not mount ($(cat "$WORK/nbdfuse.log"))"; }
LOOP=$(losetup -f --show "$WORK/fuse/disk" 2>"$WORK/losetup.log") || { fusermount3 -u "$WORK/fuse"; skip "losetup failed: $(cat "$WORK/losetup.log")"; }
finish() { umount "$WORK/mnt" 2>/dev/null; losetup -d "$LOOP" 2>/dev/null; fusermount3 -u "$WORK/fuse" 2>/dev/null; }
mkfs.ext4 -q -F "$LOOP" || { finish; fail "mkfs.ext4"; }
mount "$LOOP" "$WORK/mnt" || { finish; skip "mount is not permitted here"; }
for i in $(seq 20); do head -c 1M /dev/urandom > "$WORK/mnt/file$i"; done
sha256sum "$WORK"/mnt/file* | sed "s|$WORK/mnt/||" > "$WORK/sums"
umount "$WORK/mnt" || { finish; fail "umount"; }
fsck.ext4 -f -n "$LOOP" > "$WORK/fsck.log" 2>&1 || { finish; fail "fsck found problems: $(cat "$WORK/fsck.log")"; }
mount -o ro "$LOOP" "$WORK/mnt" || { finish; fail "remount"; }
(cd "$WORK/mnt" && sha256sum -c --quiet "$WORK/sums") || { finish; fail "files changed"; }
finish
echo "1 passed, 0 failed"
