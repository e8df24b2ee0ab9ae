#!/bin/bash
# The kernel's rnbd-client -> ibnbd-server over verbs on rxe0 (in the guest of
# scripts/rxe/run-rxe-vm.sh; tests/interop/run_interop.sh stages and boots it).
#
# One kernel session with two paths (A@A, B@B) maps two volumes of one ibnbd-server: a sparse file
# (vol0) and a block device (blk0: the node of a loop device, in the served directory). On each:
# verified writes and reads of 512 B to 1 MiB IOs (the maximum IO size included), a flush, a
# discard and a zero-out, ext4 made, used and checked with fsck -f. Then path B is removed under IO (sysfs
# remove_path) and added back, 35 s of idle must pass on heartbeats alone (the kernel gives up on
# a silent path after 30-35 s), and the devices are unmapped. The kernel client sets NEED_INVAL on
# every READ and sends FLUSH as a READ: this is what ibnbd's server must get right
# (docs/protocol.md §1.7.4, decision 7). INTEROP_QUICK=1: no path removal, no idle (lib.sh).
# Usage: kernel_client.sh [MODE...]: the server's --always-invalidate for each round (default: on).
# A round after the first runs the short list (as INTEROP_QUICK). With on, every request revokes its
# chunk's key and every response carries the next (RKEY_RSP): the client must follow the keys.
set -u
cd /tests && . ./lib.sh
SESS=k2u
PORT=4321

phase "setup: modules, volumes, ibnbd-server"
load_rtrs && load_kmod rnbd-client || { fail "insmod rnbd-client"; finish; exit; }
modprobe loop && modprobe crc32c_generic; modprobe ext4
note "modules: $(modules_loaded)"
make_pattern
mkdir -p "$W/vols"
truncate -s 64M "$W/vols/vol0"
new_loop 0 "$W/blk0.img" 64 || { finish; exit; }
mknod "$W/vols/blk0" b 7 0
server_stats() { timeout 10 $T/ibnbd --control-socket "$W/server.sock" --json stats --session any 2>&1 | tr -d ' \n'; }
FULL_QUICK=$QUICK

one_round() {  # MODE: the server's --always-invalidate
local MODE=$1
# A log of its own per round: the last round's says "serving" before this server has even started.
SERVER_LOG=$W/server-$MODE.log
phase "ibnbd-server --always-invalidate $MODE"
$T/ibnbd-server --fabric verbs --listen "$A:$PORT" --listen "$B:$PORT" --dev-search-path "$W/vols" --reactors 1 \
    --always-invalidate "$MODE" --control-socket "$W/server.sock" -v > "$SERVER_LOG" 2>&1 &
SERVER=$!
wait_for 30 grep -q serving "$SERVER_LOG" || { fail "ibnbd-server did not start"; cat "$SERVER_LOG"; return 1; }
check "the server says always_invalidate $MODE" grep -q "always_invalidate $MODE on fabric verbs" "$SERVER_LOG"

phase "map vol0 (file) and blk0 (block device), two paths"
PATHS=("ip:$A@ip:$A" "ip:$B@ip:$B")
VOL=$(kmap $SESS vol0 $PORT "${PATHS[@]}") && pass "map vol0" || fail "map vol0 (SESS_INFO/OPEN unanswered?)"
BLK=$(kmap $SESS blk0 $PORT "${PATHS[@]}") && pass "map blk0" || fail "map blk0"
if [ -z "$VOL" ] || [ -z "$BLK" ]; then
    dmesg | grep -iE 'rtrs|rnbd' | tail -20; tail -20 "$SERVER_LOG"; stop $SERVER ibnbd-server; return 1
fi
check "both paths connected" wait_for 30 kpaths_connected $SESS 2
MAX_IO=$(( $(cat "/sys/block/${VOL#/dev/}/queue/max_hw_sectors_kb") * 1024 ))
note "$VOL: $(cat "/sys/block/${VOL#/dev/}/size") sectors, max IO $MAX_IO B; $BLK: $(cat "/sys/block/${BLK#/dev/}/size") sectors"

phase "file volume $VOL"
exercise "$VOL" "$W/vols/vol0" "$MAX_IO" "k2u file"
phase "block device volume $BLK"
exercise "$BLK" "$W/blk0.img" "$MAX_IO" "k2u blk"

if [ "$QUICK" != 1 ]; then
phase "path B removed under IO, added back"
B_PATH=$(basename "$(ls -d /sys/class/rtrs-client/$SESS/paths/*"$B"* | head -1)")
io_under "kremove_path $SESS $B_PATH" "$VOL" "$W/vols/vol0" "k2u file"
check "one path left" wait_for 10 kpaths_connected $SESS 1
check "add_path ${PATHS[1]}" kadd_path $SESS "${PATHS[1]}"
check "the path added back is connected" wait_for 60 kpaths_connected $SESS 2
check "k2u blk: verified IO on both paths again" region_io "$BLK" "$W/blk0.img" $((32 * MIB)) $((4 * MIB)) 65536
fi
STATS=$(server_stats)
note "ibnbd-server stats: $STATS"
check "the server invalidated the client's READ keys (reads_invalidated > 0)" \
    test "$(json_sum "$STATS" reads_invalidated)" -gt 0
check "no protocol violations on the server" test "$(json_sum "$STATS" violations)" = 0
if [ "$MODE" = on ]; then
    check "every request revoked its chunk's key and its response bound the next (keys_revoked > 0)" \
        test "$(json_sum "$STATS" keys_revoked)" -gt 0
    check "keys bound: one per chunk at the INFO exchange, one per response" \
        test "$(json_sum "$STATS" keys_rotated)" -gt "$(json_sum "$STATS" keys_revoked)"
else
    check "no key revoked or rotated with --always-invalidate off" \
        test "$(json_sum "$STATS" keys_revoked)$(json_sum "$STATS" keys_rotated)" = 00
fi

if [ "$QUICK" != 1 ]; then
phase "35 s idle: heartbeats alone keep both paths"
BEFORE=$(kreconnects $SESS)
sleep 35
check "both paths still connected after the idle" kpaths_connected $SESS 2
check "no reconnect during the idle ($BEFORE)" test "$(kreconnects $SESS)" = "$BEFORE"
check "k2u file: data written before the idle reads back" region_io "$VOL" "" $((8 * MIB)) 32768 512
check "k2u blk: write and read after the idle" region_io "$BLK" "$W/blk0.img" $((40 * MIB)) $MIB 131072
fi

phase "unmap"
check "unmap $VOL" kunmap "$VOL"
check "unmap $BLK" kunmap "$BLK"
check "the session's paths are gone" wait_for 30 test ! -d /sys/class/rtrs-client/$SESS
stop $SERVER ibnbd-server
QUICK=1  # later rounds: the short list
}

for mode in "${@:-on}"; do one_round "$mode" || break; done
QUICK=$FULL_QUICK
# The 6.1 client WARNs (rtrs-clt.c complete_rdma_req) when a READ's key was not invalidated.
warnings=$(dmesg | grep -c 'WARNING:')
check "no kernel warnings ($warnings)" test "$warnings" = 0
if [ "$FAILED" != 0 ]; then
    echo "----- dmesg (rtrs/rnbd)"; dmesg | grep -iE 'rtrs|rnbd|warn' | tail -40
    echo "----- ibnbd-server log"; tail -40 "$SERVER_LOG"
fi
finish
