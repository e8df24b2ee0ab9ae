#!/bin/bash
# Runs inside the qemu guest of scripts/rxe/run-rxe-vm.sh (a stock Debian kernel, which has the nbd
# module): ibnbd-server and ibnbd-client over libfabric tcp on 127.0.0.1, the kernel's nbd-client
# attached to the device's loopback TCP export, ext4 made, mounted, written, unmounted and checked
# with fsck -f, then the data read back through a second attach. Exit 0: passed.
set -u
cd "$(dirname "$0")"
W=/dev/shm/knbd; mkdir -p "$W/vols" "$W/nbd"; truncate -s 128M "$W/vols/vol0"
export IBNBD_CONTROL=$W/client.sock
fail() { echo "FAIL: $*"; for f in "$W"/*.log; do echo "--- $f"; tail -15 "$f"; done; exit 1; }
modprobe nbd nbds_max=4 || fail "cannot load the nbd module"
modprobe crc32c_generic; modprobe ext4 || fail "cannot load ext4"
./ibnbd-server --listen 127.0.0.1:4321 --dev-search-path "$W/vols" --queue-depth 64 > "$W/server.log" 2>&1 &
./ibnbd-client --control-socket "$IBNBD_CONTROL" --nbd-dir "$W/nbd" > "$W/client.log" 2>&1 &
for _ in $(seq 100); do [ -S "$IBNBD_CONTROL" ] && break; sleep 0.1; done
./ibnbd map --session k --path 127.0.0.1:4321 --device vol0 --nbd-tcp 127.0.0.1:10809 || fail "map"
attach() { timeout 30 ./nbd-client -N vol0 127.0.0.1 10809 /dev/nbd0 -b 4096 || fail "nbd-client attach"; }
detach() { timeout 30 ./nbd-client -d /dev/nbd0 || fail "nbd-client -d"; }
attach
[ "$(cat /sys/block/nbd0/size)" = 262144 ] || fail "/dev/nbd0 has $(cat /sys/block/nbd0/size) sectors, not 262144"
timeout 120 ./mke2fs -q -F -t ext4 /dev/nbd0 || fail "mkfs.ext4 on /dev/nbd0"
mkdir -p /mnt/vol && mount -t ext4 /dev/nbd0 /mnt/vol || fail "mount"
head -c 8388608 /dev/urandom > "$W/data.bin"; [ "$(wc -c < "$W/data.bin")" = 8388608 ] || fail "no test data"
for i in 1 2 3; do cp "$W/data.bin" "/mnt/vol/file$i"; done
sync; umount /mnt/vol || fail "umount"
timeout 120 ./e2fsck -f -n /dev/nbd0 > "$W/fsck.log" 2>&1 || fail "fsck -f reports errors: $(cat "$W/fsck.log")"
detach
attach
mount -t ext4 -o ro /dev/nbd0 /mnt/vol || fail "mount after re-attach"
for i in 1 2 3; do cmp "$W/data.bin" "/mnt/vol/file$i" || fail "file$i differs after re-attach"; done
umount /mnt/vol; detach
./ibnbd unmap --session k --device vol0 || fail "unmap"
echo "kernel nbd-client: ext4 on /dev/nbd0 over ibnbd: made, written, fsck clean, read back"
