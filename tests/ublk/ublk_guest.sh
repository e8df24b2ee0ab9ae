#!/bin/bash
# ublk_guest.sh MODE - the ublk export, end to end, as root on a kernel with ublk_drv: inside the
# 6.12 SoftRoCE guest (run_ublk_guest.sh), or directly on a host that has ublk (e2e.ublk_host).
#   verbs  the daemons over rdma-core verbs on rxe0 with two paths (guest only)
#   tcp    the daemons over libfabric tcp on 127.0.0.1, one path
# Checks, each printed as PASS/FAIL (the script exits 1 when any failed):
#   map --ublk: /dev/ublkb0 appears with the device's size and limits (block sizes, max IO,
#   discard, write cache, one queue per reactor), `ibnbd list` names it; O_DIRECT writes read back
#   equal (dd + cmp, and ibnbd-bench --verify on the block device); discard reads back zeroes;
#   mkfs.ext4, mount, files written while a path is deleted (verbs), fsck -f clean, files equal
#   after a remount; unmap refused while mounted, done after umount, /dev/ublkb0 gone; refused
#   while a process has it open, done with --force; the server
#   killed and restarted under O_DIRECT writes: no IO error, data equal (the device remaps); the
#   client daemon killed (SIGKILL) under IO: the IO ends (no hang) and the next daemon deletes the
#   device left behind; with no path back within the wait, IO fails with EIO (as the kernel's
#   RNBD), and flows again once the server is back; SIGTERM deletes the ublk devices.
# Tools come from PATH or ./bin (dd, cmp, mke2fs, e2fsck, blkdiscard); the daemons from ./.
set -u
cd "$(dirname "$0")"
MODE=${1:-tcp}
export PATH=$PWD:$PWD/bin:$PATH
W=/dev/shm/ublk-$MODE
rm -rf "$W"; mkdir -p "$W/vols"
truncate -s 128M "$W/vols/vol0"
MIB=1048576
FAILED=0
export IBNBD_CONTROL=$W/client.sock
note() { echo "UBLK ($MODE): $*"; }
pass() { echo "PASS ($MODE): $*"; }
fail() { echo "FAIL ($MODE): $*"; FAILED=$((FAILED + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; return 1; fi; }
logs() { for f in "$W"/*.log; do echo "--- $f"; tail -20 "$f"; done; }
abort() { fail "$*"; logs; cleanup; exit 1; }
cleanup() {
    umount /mnt/ublk 2>/dev/null
    kill -KILL ${CLIENT:-} ${SERVER:-} 2>/dev/null
    wait 2>/dev/null
}
# within SECS CMD...: CMD's exit code, or 124 when it still runs after SECS (then left behind:
# IO stuck in the kernel cannot be killed). exited PID SECS: the same for a child of this shell.
within() {
    local secs=$1 i p; shift
    "$@" & p=$!
    for ((i = 0; i < secs * 5; i++)); do
        if ! kill -0 "$p" 2>/dev/null; then wait "$p"; return; fi
        sleep 0.2
    done
    return 124
}
exited() {
    local i
    for ((i = 0; i < $2 * 5; i++)); do
        if ! kill -0 "$1" 2>/dev/null; then wait "$1"; return; fi
        sleep 0.2
    done
    return 124
}

[ -e /dev/ublk-control ] || modprobe ublk_drv 2>/dev/null
[ -e /dev/ublk-control ] || { echo "SKIPPED: no /dev/ublk-control (ublk_drv missing: Linux 6.0+ with CONFIG_BLK_DEV_UBLK)"; exit 77; }
modprobe ext4 2>/dev/null; modprobe crc32c_generic 2>/dev/null

if [ "$MODE" = verbs ]; then
    A=${RXE_VM_IP:-198.18.0.1}; B=${RXE_VM_IP2:-198.18.0.2}
    SERVER_ARGS=(--fabric verbs --listen "$A:4321" --listen "$B:4321")
    CLIENT_ARGS=(--fabric verbs --rdma-address "$A")
    PATHS=(--path "$A@$A:4321" --path "$B@$B:4321")
else
    SERVER_ARGS=(--listen 127.0.0.1:4321); CLIENT_ARGS=(); PATHS=(--path 127.0.0.1:4321)
fi
start_server() {
    ibnbd-server "${SERVER_ARGS[@]}" --dev-search-path "$W/vols" --queue-depth 64 --hb-interval-ms 300 --hb-missed 3 \
        --control-socket "$W/server.sock" >> "$W/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 200); do grep -q "serving" "$W/server.log" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
start_client() {  # [WAIT_MS]
    rm -f "$IBNBD_CONTROL"
    ibnbd-client "${CLIENT_ARGS[@]}" --control-socket "$IBNBD_CONTROL" --nbd-dir "$W" --export ublk --reactors 2 \
        --hb-interval-ms 300 --hb-missed 3 --reconnect-delay-ms 200 --wait-while-reconnecting-ms "${1:-60000}" \
        >> "$W/client.log" 2>&1 &
    CLIENT=$!
    for _ in $(seq 100); do [ -S "$IBNBD_CONTROL" ] && return 0; sleep 0.1; done
    return 1
}
show() { ibnbd --json show --session u --device vol0 | tr -d ' \n'; }
field() { grep -o "\"$1\":[^,}]*" <<< "$2" | head -n 1 | cut -d: -f2- | tr -d '"'; }
sysq() { cat "/sys/block/ublkb0/queue/$1"; }

start_server || abort "ibnbd-server did not start"
start_client || abort "ibnbd-client did not start"

# ---- map: the device and its limits ----
within 60 ibnbd map --session u --device vol0 "${PATHS[@]}" --ublk > "$W/map.out" 2>&1 ||
    abort "map --ublk: $(cat "$W/map.out")"
[ -b /dev/ublkb0 ] || abort "no /dev/ublkb0 after map --ublk"
note "$(cat "$W/map.out")"
shown=$(show)
listed=$(ibnbd list)
check "ibnbd list names /dev/ublkb0" grep -q /dev/ublkb0 <<< "$listed" || note "$listed"
check "size: 128 MiB" [ "$(( $(cat /sys/block/ublkb0/size) * 512 ))" = $((128 * MIB)) ]
check "logical block size $(field logical_block_size "$shown")" [ "$(sysq logical_block_size)" = "$(field logical_block_size "$shown")" ]
check "max IO $(field max_io "$shown") bytes" [ "$(( $(sysq max_hw_sectors_kb) * 1024 ))" = "$(field max_io "$shown")" ]
check "discard limit $(field max_discard "$shown") bytes" [ "$(sysq discard_max_hw_bytes)" = "$(field max_discard "$shown")" ]
check "write-zeroes limit $(field max_write_zeroes "$shown") bytes" [ "$(sysq write_zeroes_max_bytes)" = "$(field max_write_zeroes "$shown")" ]
cache=$([ "$(field writeback_cache "$shown")" = true ] && echo "write back" || echo "write through")
check "write cache: $cache" [ "$(sysq write_cache)" = "$cache" ]
fua=$([ "$(field fua "$shown")" = true ] && echo 1 || echo 0)
check "FUA: $fua" [ "$(sysq fua)" = "$fua" ]
check "one ublk queue per reactor (2)" [ "$(ls /sys/block/ublkb0/mq | wc -l)" = 2 ]

# ---- O_DIRECT IO, verified ----
head -c $((16 * MIB)) /dev/urandom > "$W/data"
check "dd: 16 MiB written with O_DIRECT" within 120 dd if="$W/data" of=/dev/ublkb0 bs=256k oflag=direct status=none
check "dd: read back with O_DIRECT, equal" within 120 bash -c "dd if=/dev/ublkb0 bs=64k count=256 iflag=direct status=none | cmp - '$W/data'"
if command -v ibnbd-bench > /dev/null; then
    check "ibnbd-bench --verify on /dev/ublkb0 (4k..64k random, QD16)" within 120 \
        ibnbd-bench --rw randrw --bs 4k,16k,64k --iodepth 16 --runtime 3 --offset 32m --size 32m --verify -q /dev/ublkb0
fi
check "1 MiB written where the discard goes" within 60 dd if="$W/data" of=/dev/ublkb0 bs=64k count=16 seek=1024 oflag=direct status=none
check "discard of 1 MiB" within 60 blkdiscard -o $((64 * MIB)) -l $MIB /dev/ublkb0
check "the discarded range reads back zeroes" within 60 bash -c \
    "dd if=/dev/ublkb0 bs=64k skip=1024 count=16 iflag=direct status=none | cmp - <(head -c $MIB /dev/zero)"

# ---- a file system, a path deleted under IO ----
check "mkfs.ext4" within 180 mke2fs -q -F -t ext4 /dev/ublkb0
mkdir -p /mnt/ublk
check "mount" mount -t ext4 /dev/ublkb0 /mnt/ublk
for i in 1 2 3; do
    cp "$W/data" "/mnt/ublk/file$i"; sync
    if [ "$MODE" = verbs ] && [ $i = 1 ]; then
        check "path deleted under IO" ibnbd path delete --session u --path "$B@$B:4321"
    fi
done
check "unmap refused while mounted" bash -c "! ibnbd unmap --session u --device vol0 2> '$W/busy.out' && grep -q mounted '$W/busy.out'"
check "still exported after the refused unmap" grep -q /dev/ublkb0 <<< "$(ibnbd list)"
check "umount" umount /mnt/ublk
check "fsck -f clean" within 180 e2fsck -f -n /dev/ublkb0
check "mount again" mount -t ext4 -o ro /dev/ublkb0 /mnt/ublk
for i in 1 2 3; do check "file$i equal after remount" cmp "$W/data" "/mnt/ublk/file$i"; done
umount /mnt/ublk
if [ "$MODE" = verbs ]; then
    check "path added back" ibnbd path add --session u --path "$B@$B:4321"
fi

# ---- server restart under IO: three copies of the data at 32, 48 and 64 MiB ----
bash -c "for at in 512 768 1024; do dd if='$W/data' of=/dev/ublkb0 bs=64k oflag=direct seek=\$at status=none || exit 1; done" &
DD=$!
sleep 0.3
kill -KILL "$SERVER"; wait "$SERVER" 2>/dev/null
sleep 0.5
start_server || abort "ibnbd-server did not restart"
exited "$DD" 180; check "writes across a server restart: no IO error ($?)" [ $? = 0 ]
for _ in $(seq 100); do [ "$(field remaps "$(show)")" -ge 1 ] && break; sleep 0.2; done
check "the device remapped" [ "$(field remaps "$(show)")" -ge 1 ]
for at in 512 768 1024; do
    check "data written across the restart reads back equal (at $((at / 16)) MiB)" within 120 bash -c \
        "dd if=/dev/ublkb0 bs=64k skip=$at count=256 iflag=direct status=none | cmp - '$W/data'"
done
shown=$(show)
errors=$(grep -o '"errors":[0-9]*' <<< "$shown" | cut -d: -f2)
check "no ublk request failed ($errors)" [ "$errors" = 0 ] || note "$shown"

# ---- unmap ----
check "unmap" ibnbd unmap --session u --device vol0
check "/dev/ublkb0 gone after unmap" bash -c "[ ! -e /dev/ublkb0 ] && [ ! -e /sys/class/ublk-char/ublkc0 ]"

# ---- unmap --force while a process holds /dev/ublkb0 open ----
within 60 ibnbd map --session u --device vol0 "${PATHS[@]}" --ublk > /dev/null 2>&1 || abort "map for the forced unmap"
exec 3< /dev/ublkb0
check "unmap refused while a process has /dev/ublkb0 open" bash -c \
    "! ibnbd unmap --session u --device vol0 2> '$W/open.out' && grep -q 'open by pid' '$W/open.out'"
check "unmap --force while open" ibnbd unmap --session u --device vol0 --force
exec 3<&-
check "/dev/ublkb0 gone after the forced unmap" bash -c "[ ! -e /dev/ublkb0 ] && [ -z \"\$(ls /sys/class/ublk-char)\" ]"

# ---- the client daemon dies under IO ----
within 60 ibnbd map --session u --device vol0 "${PATHS[@]}" --ublk > /dev/null 2>&1 || abort "map again"
within 60 dd if=/dev/ublkb0 of=/dev/null bs=4k iflag=direct count=200000 status=none & DD=$!
sleep 1
kill -KILL "$CLIENT"; wait "$CLIENT" 2>/dev/null
exited "$DD" 30; rc=$?
check "IO ends when the daemon dies (no hang; dd exit $rc)" [ $rc != 124 ]
for _ in $(seq 50); do [ -e /dev/ublkb0 ] || break; sleep 0.2; done
check "the kernel removed /dev/ublkb0 of the dead daemon" [ ! -e /dev/ublkb0 ]
start_client 2000 || abort "ibnbd-client did not restart"
check "the next daemon deleted the device left behind" grep -q "deleted /dev/ublkc0 left by pid" "$W/client.log"
check "no ublk char device left" [ -z "$(ls /sys/class/ublk-char 2>/dev/null)" ]

# ---- no path comes back within --wait-while-reconnecting-ms (2 s here): EIO, as the kernel's RNBD ----
within 60 ibnbd map --session u --device vol0 "${PATHS[@]}" --ublk > /dev/null 2>&1 || abort "map a third time"
kill -KILL "$SERVER"; wait "$SERVER" 2>/dev/null
within 60 dd if=/dev/ublkb0 of=/dev/null bs=4k count=1 skip=100 iflag=direct status=none 2> "$W/eio.out"; rc=$?
check "IO without a path fails after the wait, with EIO (dd exit $rc: $(cat "$W/eio.out"))" \
    bash -c "[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'Input/output error' '$W/eio.out'"
start_server || abort "ibnbd-server did not restart"
for _ in $(seq 100); do [ "$(field state "$(show)")" = mapped ] && break; sleep 0.2; done
check "IO flows again once the server is back" within 60 dd if=/dev/ublkb0 of=/dev/null bs=4k count=16 iflag=direct status=none

# ---- SIGTERM deletes the ublk devices ----
kill -TERM "$CLIENT"
exited "$CLIENT" 30; rc=$?
check "ibnbd-client exits 0 on SIGTERM ($rc)" [ $rc = 0 ]
check "SIGTERM deleted the ublk device" [ -z "$(ls /sys/class/ublk-char 2>/dev/null)" ]
kill -TERM "$SERVER"; wait "$SERVER"

[ $FAILED = 0 ] || logs
note "$FAILED check(s) failed"
[ $FAILED = 0 ]
