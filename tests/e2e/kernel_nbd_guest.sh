#!/bin/bash
# Runs inside the qemu guest of scripts/rxe/run-rxe-vm.sh (a stock Debian kernel, which has the nbd
# module and SoftRoCE): ibnbd-server and ibnbd-client, the kernel's nbd-client attached to the
# device's loopback TCP export, ext4 made, mounted, written, unmounted and checked with fsck -f,
# then the data read back through a second attach. Exit 0: passed.
#   kernel_nbd_guest.sh tcp     the daemons over libfabric tcp on 127.0.0.1, one path
#   kernel_nbd_guest.sh verbs   the daemons over rdma-core verbs on rxe0, two paths (both guest
#                               addresses); one path is deleted while files are written, then added
#                               back and seen connected
# The server runs one reactor per vCPU (two): a first session takes reactor 0, so the session
# under test lives on reactor 1 and reactor 0's listener hands each of its connections over (on
# verbs: the rdma_cm id moves to reactor 1's event channel).
set -u
cd "$(dirname "$0")"
MODE=${1:-tcp}
W=/dev/shm/knbd-$MODE; mkdir -p "$W/vols" "$W/nbd"; truncate -s 128M "$W/vols/vol0" "$W/vols/vol1"
export IBNBD_CONTROL=$W/client.sock
fail() { echo "FAIL ($MODE): $*"; for f in "$W"/*.log; do echo "--- $f"; tail -15 "$f"; done; exit 1; }
modprobe nbd nbds_max=4 || fail "cannot load the nbd module"
modprobe crc32c_generic; modprobe ext4 || fail "cannot load ext4"
if [ "$MODE" = verbs ]; then
    A=${RXE_VM_IP:-198.18.0.1}; B=${RXE_VM_IP2:-198.18.0.2}
    SERVER_ARGS=(--fabric verbs --listen "$A:4321" --listen "$B:4321")
    CLIENT_ARGS=(--fabric verbs --rdma-address "$A")
    PATHS=(--path "$A@$A:4321" --path "$B@$B:4321")
else
    SERVER_ARGS=(--listen 127.0.0.1:4321); CLIENT_ARGS=(); PATHS=(--path 127.0.0.1:4321)
fi
./ibnbd-server "${SERVER_ARGS[@]}" --dev-search-path "$W/vols" --queue-depth 64 --hb-interval-ms 500 \
    --control-socket "$W/server.sock" > "$W/server.log" 2>&1 &
SERVER=$!
# Under emulation a process takes a while to start: map only once the server listens.
for _ in $(seq 200); do grep -q "serving" "$W/server.log" 2>/dev/null && break; sleep 0.1; done
grep -q "serving" "$W/server.log" || fail "ibnbd-server did not start"
./ibnbd-client "${CLIENT_ARGS[@]}" --control-socket "$IBNBD_CONTROL" --nbd-dir "$W/nbd" --hb-interval-ms 500 \
    --reconnect-delay-ms 200 > "$W/client.log" 2>&1 &
CLIENT=$!
for _ in $(seq 100); do [ -S "$IBNBD_CONTROL" ] && break; sleep 0.1; done
./ibnbd map --session first --device vol1 "${PATHS[@]}" || fail "map the first session"
./ibnbd map --session k --device vol0 "${PATHS[@]}" --nbd-tcp 127.0.0.1:10809 || fail "map"
server_list=$(./ibnbd --control-socket "$W/server.sock" --json list | tr -d ' \n')
reactor_of() { grep -o "{[^{}]*\"session\":\"$1\"[^{}]*}" <<< "$server_list" | grep -o '"reactor":[0-9]*' | tr -dc 0-9; }
[ "$(reactor_of first)" = 0 ] && [ "$(reactor_of k)" = 1 ] ||
    fail "the sessions are not on server reactors 0 and 1: $server_list"
connected_paths() { ./ibnbd --json stats --session k | grep -c '"state": "connected"'; }
wait_paths() { for _ in $(seq 100); do [ "$(connected_paths)" = "$1" ] && return 0; sleep 0.1; done; return 1; }
wait_paths $(( ${#PATHS[@]} / 2 )) || fail "the paths did not connect"
# Two connections: the daemon hands them to its two reactors (the guest has two vCPUs), each with
# its own IO shard of the session.
attach() { timeout 30 ./nbd-client -N vol0 127.0.0.1 10809 /dev/nbd0 -b 4096 -C 2 || fail "nbd-client attach"; }
detach() { timeout 30 ./nbd-client -d /dev/nbd0 || fail "nbd-client -d"; }
attach
[ "$(cat /sys/block/nbd0/size)" = 262144 ] || fail "/dev/nbd0 has $(cat /sys/block/nbd0/size) sectors, not 262144"
timeout 120 ./mke2fs -q -F -t ext4 /dev/nbd0 || fail "mkfs.ext4 on /dev/nbd0"
mkdir -p /mnt/vol && mount -t ext4 /dev/nbd0 /mnt/vol || fail "mount"
head -c 8388608 /dev/urandom > "$W/data.bin"; [ "$(wc -c < "$W/data.bin")" = 8388608 ] || fail "no test data"
for i in 1 2 3; do
    cp "$W/data.bin" "/mnt/vol/file$i"; sync
    if [ "$MODE" = verbs ] && [ $i = 1 ]; then
        ./ibnbd path delete --session k --path "$B@$B:4321" || fail "path delete under IO"
    fi
done
sync; umount /mnt/vol || fail "umount"
timeout 120 ./e2fsck -f -n /dev/nbd0 > "$W/fsck.log" 2>&1 || fail "fsck -f reports errors: $(cat "$W/fsck.log")"
detach
if [ "$MODE" = verbs ]; then
    ./ibnbd path add --session k --path "$B@$B:4321" || fail "path add"
    wait_paths 2 || fail "the path added back did not connect"
fi
attach
mount -t ext4 -o ro /dev/nbd0 /mnt/vol || fail "mount after re-attach"
for i in 1 2 3; do cmp "$W/data.bin" "/mnt/vol/file$i" || fail "file$i differs after re-attach"; done
umount /mnt/vol; detach
./ibnbd stats --session k
shards=$(./ibnbd --json stats --session k | tr -d ' \n' | grep -o '"io_shards":\[[^]]*\]')
echo "IO per reactor: $shards"
[ "$(grep -o '"reactor":' <<< "$shards" | wc -l)" = "$(nproc)" ] || fail "not one IO shard per reactor: $shards"
./ibnbd unmap --session k --device vol0 || fail "unmap"
./ibnbd unmap --session first --device vol1 || fail "unmap the first session"
kill -TERM "$CLIENT" "$SERVER"; wait "$SERVER" || fail "ibnbd-server did not exit 0 on SIGTERM"
echo "kernel nbd-client ($MODE): ext4 on /dev/nbd0 over ibnbd: made, written, fsck clean, read back"
