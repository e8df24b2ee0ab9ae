# tests/interop/guest/lib.sh - sourced by the interop guest scripts, which run in the qemu guest of
# scripts/rxe/run-rxe-vm.sh (SoftRoCE rxe0 over dummy0 with addresses A and B) with the kernel's
# own rtrs/rnbd modules in /tests/kmod (scripts/kernel-peer/build-modules.sh).
#
# Every check prints "PASS: what" or "FAIL: what" and FAILED counts the failures; the scripts
# exit 1 when any failed. Everything that can block has a deadline: IO stuck in the kernel (D
# state) cannot be killed, so `within` leaves it behind and the guest's own deadline ends the run.
T=/tests
BIN=$T/bin
A=${RXE_VM_IP:-198.18.0.1}
B=${RXE_VM_IP2:-198.18.0.2}
W=/dev/shm/interop
PAT=$W/pattern        # 16 MiB of random bytes: the data of every verified write
MIB=1048576
FAILED=0
# INTEROP_QUICK=1 (a second kernel's run): IO of three sizes, no path removal, no idle, no control.
QUICK=${INTEROP_QUICK:-0}
mkdir -p "$W"

note() { echo "INTEROP: $*"; }
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
# check WHAT CMD...: PASS or FAIL by CMD's exit code, with the seconds it took.
check() {
    local what=$1 t0 t1 rc; shift
    read -r t0 _ < /proc/uptime
    "$@"; rc=$?
    read -r t1 _ < /proc/uptime
    what="$what ($(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")s)"
    if [ $rc = 0 ]; then pass "$what"; else fail "$what"; fi
    return $rc
}
# A phase starts: its elapsed seconds go with its name into the log.
PHASE_T0=0
phase() {
    local now; now=$(cut -d. -f1 /proc/uptime)
    [ "$PHASE_T0" = 0 ] || note "phase done in $((now - PHASE_T0))s"
    PHASE_T0=$now
    echo "===== $* (guest uptime ${now}s)"
}

# within SECS CMD...: runs CMD and waits at most SECS for it; returns CMD's exit code, or 124
# when it is still running (then left behind).
within() {
    local secs=$1 i p; shift
    "$@" &
    p=$!
    for ((i = 0; i < secs * 5; i++)); do
        if ! kill -0 "$p" 2>/dev/null; then wait "$p"; return; fi
        sleep 0.2
    done
    note "still running after ${secs}s: $*" >&2
    return 124
}

# stop PID NAME: SIGTERM, then PASS when it exits 0 within 30 s (else FAIL, and SIGKILL).
stop() {
    local i
    kill -TERM "$1" 2>/dev/null
    for ((i = 0; i < 150; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$1" 2>/dev/null; then
        fail "$2 still running 30 s after SIGTERM"; kill -KILL "$1"; wait "$1"; return
    fi
    check "$2 exits 0 on SIGTERM" wait "$1"
}

# wait_for SECS CMD...: polls CMD every 0.2 s until it succeeds; false after SECS.
wait_for() {
    local secs=$1 i; shift
    for ((i = 0; i < secs * 5; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}

make_pattern() { [ -s "$PAT" ] || head -c $((16 * MIB)) /dev/urandom > "$PAT"; }

# ---- kernel modules ------------------------------------------------------------------------

# load_rtrs [rtrs-server ARGS...]: rdma_cm and ib_core, then the out-of-tree rtrs-core,
# rtrs-client and rtrs-server (unsigned: they taint the kernel, which is fine here).
load_rtrs() {
    modprobe rdma_cm && modprobe ib_core || { fail "modprobe rdma_cm ib_core"; return 1; }
    load_kmod rtrs-core && load_kmod rtrs-client && load_kmod rtrs-server "$@" || { fail "insmod rtrs modules"; return 1; }
}
# load_kmod NAME [ARGS...]: insmod /tests/kmod/NAME.ko unless it is loaded (a guest may run
# several of the scripts one after the other).
load_kmod() {
    local name=$1; shift
    [ -d "/sys/module/${name//-/_}" ] || insmod "$T/kmod/$name.ko" "$@"
}
# load_rnbd_server ALWAYS_INVALIDATE: (re)loads rtrs-server with that setting and rnbd-server
# serving /dev on the kernel's default port 1234.
load_rnbd_server() {
    rmmod rnbd-server 2>/dev/null; rmmod rtrs-server 2>/dev/null
    insmod $T/kmod/rtrs-server.ko always_invalidate="$1" && insmod $T/kmod/rnbd-server.ko dev_search_path=/dev ||
        { fail "insmod rtrs-server always_invalidate=$1, rnbd-server"; return 1; }
    note "rtrs-server always_invalidate=$(cat /sys/module/rtrs_server/parameters/always_invalidate)"
}
modules_loaded() { grep -oE '^(rtrs|rnbd)[a-z_]*' /proc/modules | tr '\n' ' '; }

# new_loop N FILE MIB: /dev/loopN over a fresh FILE of that size (tmpfs: discard punches holes).
new_loop() {
    rm -f "$2"; truncate -s "$3M" "$2"
    losetup "/dev/loop$1" "$2" || { fail "losetup /dev/loop$1 $2"; return 1; }
}

# ---- the kernel's rnbd-client (sysfs) ------------------------------------------------------

RNBD_CTL=/sys/devices/virtual/rnbd-client/ctl
# kmap SESSION DEVICE_PATH PORT PATH...: maps a device (PATH: ip:SRC@ip:DST) and prints its
# /dev name. The write blocks until SESS_INFO and OPEN are answered, with no timeout of its own.
kmap() {
    local sess=$1 device=$2 port=$3 spec; shift 3
    spec="sessname=$sess device_path=$device dest_port=$port"
    for p in "$@"; do spec="$spec path=$p"; done
    # Not on our stdout: a write stuck in the kernel would hold the caller's $(...) open.
    within 60 sh -c "echo '$spec' > $RNBD_CTL/map_device" > /dev/null 2>&1 || return 1
    local link=/sys/class/rnbd-client/ctl/devices/$device@$sess
    [ -e "$link" ] || return 1
    echo "/dev/$(basename "$(readlink -f "$link")")"
}
kunmap() { within 30 sh -c "echo normal > /sys/block/${1#/dev/}/rnbd/unmap_device"; }
kpaths() { echo /sys/class/rtrs-client/"$1"/paths/*; }
# kpaths_connected SESSION N: the session has N paths, all connected.
kpaths_connected() {
    local n=0 p
    for p in $(kpaths "$1"); do
        [ "$(cat "$p/state" 2>/dev/null)" = connected ] || return 1
        n=$((n + 1))
    done
    [ $n = "$2" ]
}
# kreconnects SESSION: every path's "successful failed" reconnect counters, one line.
kreconnects() { local p; for p in $(kpaths "$1"); do printf '%s ' "$(cat "$p/stats/reconnects")"; done; }
kremove_path() { within 30 sh -c "echo 1 > /sys/class/rtrs-client/$1/paths/$2/remove_path"; }
kadd_path() { within 30 sh -c "echo $2 > /sys/class/rtrs-client/$1/add_path"; }

# ---- ibnbd ---------------------------------------------------------------------------------

# json_num JSON KEY: every number KEY has in JSON (one per line).
json_num() { grep -o "\"$2\": *[0-9]*" <<< "$1" | grep -o '[0-9]*$'; }
json_sum() { local s=0 v; for v in $(json_num "$1" "$2"); do s=$((s + v)); done; echo $s; }

# ---- verified block IO -----------------------------------------------------------------------

# region_io DEV BACK OFFSET BYTES BS: writes BYTES of the pattern (from OFFSET of it) at OFFSET
# of DEV in O_DIRECT blocks of BS, reads them back the same way and compares; BACK (the file or
# device behind the volume, seen from here) must hold them too. False on any difference.
region_io() {
    local dev=$1 back=$2 off=$3 bytes=$4 bs=$5
    head -c $((off + bytes)) "$PAT" | tail -c "$bytes" > "$W/expect"
    within 120 $BIN/dd if="$W/expect" of="$dev" bs="$bs" seek="$off" oflag=direct,seek_bytes status=none || return 1
    within 120 $BIN/dd if="$dev" of="$W/back" bs="$bs" count=$((bytes / bs)) skip="$off" iflag=direct,skip_bytes \
        status=none || return 1
    $BIN/cmp "$W/expect" "$W/back" || return 1
    [ -z "$back" ] && return 0
    $BIN/dd if="$back" of="$W/stored" bs=$MIB skip="$off" count="$bytes" iflag=skip_bytes,count_bytes status=none &&
        $BIN/cmp "$W/expect" "$W/stored"
}

# verified_sizes DEV BACK MAX_IO TAG: region_io with blocks of 512 B, 4 KiB, 64 KiB, the maximum
# IO size and 1 MiB (split by the block layer), each size in its own region from 8 MiB on.
verified_sizes() {
    local dev=$1 back=$2 max=$3 tag=$4 bs bytes r=0 sizes=(512 4096 65536 "$3" $MIB)
    [ "$QUICK" = 1 ] && sizes=(4096 "$3" $MIB)
    for bs in "${sizes[@]}"; do
        bytes=$((bs >= 65536 ? bs * 2 : bs * 64))
        check "$tag: verified write+read of ${bytes} B in ${bs}-byte IOs" region_io "$dev" "$back" $(((8 + r) * MIB)) \
            "$bytes" "$bs"
        r=$((r + 1))
    done
}

# zero_at DEV BACK MIB_OFFSET: the MiB at that offset reads zero, on the device and in BACK.
zero_at() {
    within 60 $BIN/dd if="$1" of="$W/zero" bs=$MIB count=1 skip="$3" iflag=direct status=none &&
        $BIN/cmp -n $MIB "$W/zero" /dev/zero || return 1
    [ -z "$2" ] && return 0
    $BIN/dd if="$2" of="$W/zero" bs=$MIB count=1 skip="$3" status=none && $BIN/cmp -n $MIB "$W/zero" /dev/zero
}

# flush_discard DEV BACK TAG: a write with fsync (a FLUSH request); 2 MiB written at 2 MiB, then
# the first MiB discarded and the second zeroed out (WRITE_ZEROES where the device offers it,
# else written zeros): both read zero, on the device and in BACK.
flush_discard() {
    local dev=$1 back=$2 tag=$3 queue=/sys/block/${1#/dev/}/queue
    check "$tag: 4 KiB write + fsync (flush)" within 60 $BIN/dd if="$PAT" of="$dev" bs=4096 count=1 seek=100 \
        oflag=direct conv=fsync status=none
    region_io "$dev" "$back" $((2 * MIB)) $((2 * MIB)) $MIB || fail "$tag: 2 MiB written at 2 MiB"
    note "$dev: discard_max_bytes $(cat $queue/discard_max_bytes), write_zeroes_max_bytes $(cat $queue/write_zeroes_max_bytes)"
    check "$tag: blkdiscard 1 MiB at 2 MiB" within 60 $BIN/blkdiscard -o $((2 * MIB)) -l $MIB "$dev"
    check "$tag: the discarded range reads zero (device and backing store)" zero_at "$dev" "$back" 2
    check "$tag: blkdiscard -z (zero-out) 1 MiB at 3 MiB" within 60 $BIN/blkdiscard -z -o $((3 * MIB)) -l $MIB "$dev"
    check "$tag: the zeroed range reads zero (device and backing store)" zero_at "$dev" "$back" 3
}

# filesystem DEV TAG: mkfs.ext4, mount, two 2 MiB files written and synced, umount, fsck -f,
# mount read-only and compare.
filesystem() {
    local dev=$1 tag=$2 mnt=/mnt/${2//[^a-z0-9]/_} i
    mkdir -p "$mnt"
    check "$tag: mkfs.ext4" within 180 $BIN/mke2fs -q -F -t ext4 "$dev" || return
    check "$tag: mount ext4" mount -t ext4 "$dev" "$mnt" || return
    for i in 1 2; do head -c $((i * 2 * MIB)) "$PAT" | tail -c $((2 * MIB)) > "$mnt/file$i"; done
    check "$tag: sync written files" within 120 sync
    check "$tag: umount" within 60 umount "$mnt"
    check "$tag: fsck -f finds no errors" within 180 $BIN/e2fsck -f -n "$dev"
    mount -t ext4 -o ro "$dev" "$mnt" || { fail "$tag: mount read-only"; return; }
    for i in 1 2; do
        head -c $((i * 2 * MIB)) "$PAT" | tail -c $((2 * MIB)) > "$W/expect"
        check "$tag: file$i reads back" $BIN/cmp "$W/expect" "$mnt/file$i"
    done
    umount "$mnt"
}

# exercise DEV BACK MAX_IO TAG: the whole list on one device.
exercise() {
    verified_sizes "$1" "$2" "$3" "$4"
    flush_discard "$1" "$2" "$4"
    filesystem "$1" "$4"
}

# io_under PATH_OP DEV BACK TAG: 8 MiB at 16 MiB written over and over in 64 KiB IOs (synchronous,
# one at a time) by a writer that runs until told to stop, so the IO is in flight when PATH_OP (a
# command) runs however fast the machine is. The writer must survive the operation, finish a whole
# pass after it, and the data must read back whole.
io_under() {
    local op=$1 dev=$2 back=$3 tag=$4 p i passes_at_op
    tail -c $((8 * MIB)) "$PAT" > "$W/under"
    rm -f "$W/under.stop" "$W/under.passes"
    (
        while [ ! -e "$W/under.stop" ]; do
            $BIN/dd if="$W/under" of="$dev" bs=65536 seek=$((16 * MIB)) \
                oflag=direct,dsync,seek_bytes status=none || exit 1
            echo >> "$W/under.passes"
        done
    ) &
    p=$!
    sleep 0.5
    check "$tag: $op" $op
    passes_at_op=$(under_passes)
    check "$tag: the writer survived the path operation (it runs until told to stop)" kill -0 $p
    for ((i = 0; i < 600; i++)); do
        [ "$(under_passes)" -ge $((passes_at_op + 2)) ] && break
        kill -0 $p 2>/dev/null || break
        sleep 0.2
    done
    touch "$W/under.stop"
    check "$tag: the writer completed a whole pass after the path operation" \
        test "$(under_passes)" -ge $((passes_at_op + 2))
    check "$tag: the writes under the path operation completed" wait $p
    within 60 $BIN/dd if="$dev" of="$W/back" bs=65536 count=128 skip=$((16 * MIB)) iflag=direct,skip_bytes status=none
    check "$tag: the data written under the path operation reads back" $BIN/cmp "$W/under" "$W/back"
    if [ -n "$back" ]; then
        $BIN/dd if="$back" of="$W/stored" bs=$MIB skip=16 count=8 status=none
        check "$tag: the data written under the path operation is in the backing store" $BIN/cmp "$W/under" "$W/stored"
    fi
}

# under_passes: how many whole 8 MiB passes io_under's writer has finished.
under_passes() { [ -e "$W/under.passes" ] && wc -l < "$W/under.passes" || echo 0; }

finish() {
    phase "done"
    if [ "$FAILED" = 0 ]; then echo "INTEROP RESULT: all checks passed"; else echo "INTEROP RESULT: $FAILED checks FAILED"; fi
    [ "$FAILED" = 0 ]
}
