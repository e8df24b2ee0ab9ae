#!/bin/bash
# ibnbd-client -> the kernel's rnbd-server, and the kernel's own client beside it as the control,
# over verbs on rxe0 (in the guest of scripts/rxe/run-rxe-vm.sh; tests/interop/run_interop.sh
# stages and boots it).
#
# usage: kernel_server.sh [Y|N]...   one phase per rtrs-server always_invalidate setting (Y: every
#        response carries the chunk's next key, RTRS_MSG_NEW_RKEY_F; N: fixed keys)
# In each phase rnbd-server serves two loop devices; ibnbd-client maps one over two paths and
# exports it over NBD (the kernel's nbd-client attaches it), the kernel's rnbd-client maps the
# other over two paths. On both: verified writes and reads of 512 B to 1 MiB IOs, a flush, a
# discard and a zero-out, ext4 made, used and checked; a path deleted under IO and added back; 35 s of idle on
# heartbeats alone; unmap. What works for the kernel's client and fails for ibnbd's is ibnbd's bug.
# INTEROP_QUICK=1: ibnbd-client only (no control), no path deletion, no idle (lib.sh).
set -u
cd /tests && . ./lib.sh
NBD_PORT=10809
MAX_IO=126976   # rtrs-server's max_chunk_size (128 KiB) minus its 4 KiB header room

phase "setup: modules, ibnbd-client"
load_rtrs always_invalidate=Y && load_kmod rnbd-client || { fail "insmod rnbd-client"; finish; exit; }
modprobe loop && modprobe nbd nbds_max=2 && modprobe crc32c_generic; modprobe ext4
make_pattern
export IBNBD_CONTROL=$W/client.sock
mkdir -p "$W/nbd"
$T/ibnbd-client --fabric verbs --rdma-address "$A" --control-socket "$IBNBD_CONTROL" --nbd-dir "$W/nbd" --reactors 1 \
    -v > "$W/client.log" 2>&1 &
CLIENT=$!
wait_for 30 test -S "$IBNBD_CONTROL" || { fail "ibnbd-client did not start"; cat "$W/client.log"; finish; exit; }
ustats() { timeout 10 $T/ibnbd --json stats --session "$1" 2>&1 | tr -d ' \n'; }
upaths_connected() { [ "$(json_num "$(ustats "$1")" connected_paths)" = "$2" ]; }

# check_key_updates SESSION Y|N STATS: with always_invalidate=Y every response carried a new key.
check_key_updates() {
    note "$1 stats: $3"
    if [ "$2" = Y ]; then
        check "$1: the server's new keys were applied (rkey_updates > 0)" test "$(json_sum "$3" rkey_updates)" -gt 0
    else
        check "$1: fixed keys (rkey_updates = 0)" test "$(json_sum "$3" rkey_updates)" = 0
    fi
}
unmap_ibnbd() {
    check "$1: nbd-client -d" within 30 $T/nbd-client -d /dev/nbd0
    check "$1: ibnbd unmap" within 30 $T/ibnbd unmap --session "$1" --device loop1
}

run_phase() {
    local ai=$1 u=u2k-$1 k=k2k-$1
    local upaths=("$A@$A" "$B@$B") kpaths=("ip:$A@ip:$A" "ip:$B@ip:$B")
    phase "always_invalidate=$ai: rnbd-server over /dev/loop1 (ibnbd) and /dev/loop2 (kernel)"
    load_rnbd_server "$ai" || return
    new_loop 1 "$W/u2k.img" 64 && new_loop 2 "$W/k2k.img" 64 || return
    note "modules: $(modules_loaded)"

    phase "always_invalidate=$ai: map (ibnbd over NBD, kernel control), two paths each"
    if within 60 $T/ibnbd map --session "$u" --device loop1 --path "${upaths[0]}" --path "${upaths[1]}" \
        --nbd-tcp 127.0.0.1:$NBD_PORT; then pass "$u: ibnbd map"; else fail "$u: ibnbd map"; return; fi
    check "$u: both paths connected" wait_for 30 upaths_connected "$u" 2
    check "$u: nbd-client attaches /dev/nbd0" within 30 $T/nbd-client -N loop1 127.0.0.1 $NBD_PORT /dev/nbd0 -b 512 ||
        return
    if [ "$QUICK" = 1 ]; then
        phase "always_invalidate=$ai: ibnbd-client (/dev/nbd0)"
        exercise /dev/nbd0 "$W/u2k.img" $MAX_IO "$u"
        check_key_updates "$u" "$ai" "$(ustats "$u")"
        unmap_ibnbd "$u"
        losetup -d /dev/loop1; losetup -d /dev/loop2
        return
    fi
    local kdev
    kdev=$(kmap "$k" loop2 1234 "${kpaths[@]}") && pass "$k: kernel map" || { fail "$k: kernel map"; return; }
    check "$k: both paths connected" wait_for 30 kpaths_connected "$k" 2

    phase "always_invalidate=$ai: ibnbd-client (/dev/nbd0)"
    exercise /dev/nbd0 "$W/u2k.img" $MAX_IO "$u"
    phase "always_invalidate=$ai: kernel rnbd-client ($kdev, control)"
    exercise "$kdev" "$W/k2k.img" $MAX_IO "$k"

    phase "always_invalidate=$ai: a path deleted under IO and added back"
    io_under "$T/ibnbd path delete --session $u --path ${upaths[1]}" /dev/nbd0 "$W/u2k.img" "$u"
    check "$u: path add ${upaths[1]}" within 30 $T/ibnbd path add --session "$u" --path "${upaths[1]}"
    check "$u: the path added back is connected" wait_for 60 upaths_connected "$u" 2
    local kb; kb=$(basename "$(ls -d /sys/class/rtrs-client/"$k"/paths/*"$B"* | head -1)")
    io_under "kremove_path $k $kb" "$kdev" "$W/k2k.img" "$k"
    check "$k: add_path ${kpaths[1]}" kadd_path "$k" "${kpaths[1]}"
    check "$k: the path added back is connected" wait_for 60 kpaths_connected "$k" 2
    local stats; stats=$(ustats "$u")
    check_key_updates "$u" "$ai" "$stats"

    phase "always_invalidate=$ai: 35 s idle, heartbeats alone"
    local ubefore kbefore
    ubefore=$(json_sum "$stats" reconnects_ok)
    kbefore=$(kreconnects "$k")
    sleep 35
    check "$u: both paths connected after the idle" upaths_connected "$u" 2
    check "$u: no reconnect during the idle" test "$(json_sum "$(ustats "$u")" reconnects_ok)" = "$ubefore"
    check "$k: both paths connected after the idle" kpaths_connected "$k" 2
    check "$k: no reconnect during the idle" test "$(kreconnects "$k")" = "$kbefore"
    check "$u: verified IO after the idle" region_io /dev/nbd0 "$W/u2k.img" $((40 * MIB)) $MIB 131072
    check "$k: verified IO after the idle" region_io "$kdev" "$W/k2k.img" $((40 * MIB)) $MIB 131072

    phase "always_invalidate=$ai: unmap"
    unmap_ibnbd "$u"
    check "$k: unmap" kunmap "$kdev"
    check "$k: the session's paths are gone" wait_for 30 test ! -d /sys/class/rtrs-client/"$k"
    losetup -d /dev/loop1; losetup -d /dev/loop2
}

for ai in "${@:-Y N}"; do
    for setting in $ai; do run_phase "$setting"; done
done
stop $CLIENT ibnbd-client
warnings=$(dmesg | grep -c 'WARNING:')
check "no kernel warnings ($warnings)" test "$warnings" = 0
if [ "$FAILED" != 0 ]; then
    echo "----- dmesg (rtrs/rnbd)"; dmesg | grep -iE 'rtrs|rnbd|warn|nbd' | tail -40
    echo "----- ibnbd-client log"; tail -40 "$W/client.log"
fi
finish
