#!/usr/bin/env bash
# Loopback: map a sparse file served by ibnbd-server, nbdcopy 64 MiB of random data in and out
# through the client's NBD export, and compare; resize the mapping; then unmap and shut the server
# down cleanly.
BIN=$1; source "$(dirname "$0")/lib.sh"
need nbdcopy nbdinfo cmp
mkdir -p "$WORK/vols" && truncate -s 256M "$WORK/vols/vol0"
start_server --control-socket "$WORK/server.sock"
start_client
"$BIN/ibnbd" map --session e2e --path "127.0.0.1:$PORT" --device vol0 || fail "map"
"$BIN/ibnbd" --json list | grep -q '"state": "mapped"' || fail "list does not show the mapped device"
nbdinfo "$(uri e2e vol0)" | grep -q "export-size: 268435456" || fail "nbdinfo size"
head -c 64M /dev/urandom > "$WORK/in.bin"
nbdcopy "$WORK/in.bin" "$(uri e2e vol0)" || fail "nbdcopy in"
nbdcopy "$(uri e2e vol0)" "$WORK/out.bin" || fail "nbdcopy out"
cmp -n 67108864 "$WORK/in.bin" "$WORK/out.bin" || fail "data read back differs"
cmp -n 67108864 "$WORK/in.bin" "$WORK/vols/vol0" || fail "data on the server's file differs"
cmp -n $(( 192 * 1024 * 1024 )) -i 67108864 "$WORK/out.bin" /dev/zero || fail "the rest is not zeros"
"$BIN/ibnbd" stats --session e2e | grep -q connected || fail "stats"
# Every request took its server chunk slot from idle to busy and back (2 state changes or more).
"$BIN/ibnbd" --control-socket "$WORK/server.sock" --json stats --session any > "$WORK/stats.json" || fail "server stats"
python3 - "$WORK/stats.json" <<'PY' || fail "server stats: $(cat "$WORK/stats.json")"
import json, sys
stats = json.load(open(sys.argv[1]))
assert stats["ios"] >= 512, "the server did not count the IO"
assert stats["slot_transitions"] >= 2 * stats["ios"], "chunk slot transitions not counted"
PY
"$BIN/ibnbd" map --session e2e --device nope; [ $? = 1 ] || fail "mapping a missing device must fail with exit 1"
"$BIN/ibnbd" map --session nowhere --path 127.0.0.1:1 --device vol0 2> "$WORK/nowhere.txt"
[ $? = 1 ] || fail "mapping from a server nobody runs must fail with exit 1"
grep -q "cannot reach the server" "$WORK/nowhere.txt" || fail "the failure does not say why: $(cat "$WORK/nowhere.txt")"
# ublk where the kernel has none (this host; tests/ublk covers a kernel that has it): refused, saying why.
if [ ! -e /dev/ublk-control ]; then
    "$BIN/ibnbd" map --session e2e --device vol1 --ublk 2> "$WORK/no-ublk.txt"; [ $? = 1 ] || fail "map --ublk without ublk must fail"
    grep -q "ublk_drv" "$WORK/no-ublk.txt" || fail "map --ublk without ublk does not say why: $(cat "$WORK/no-ublk.txt")"
fi
"$BIN/ibnbd" map --session e2e --device vol0 --ublk --export nbd 2> "$WORK/both.txt"; [ $? = 2 ] ||
    fail "--ublk with --export nbd must be a usage error"
"$BIN/ibnbd" resize --session e2e --device vol0 --size 128M | grep -q "128.0 MiB" || fail "resize"
nbdinfo "$(uri e2e vol0)" | grep -q "export-size: 134217728" || fail "a new NBD connection does not see the new size"
"$BIN/ibnbd" resize --session e2e --device vol0 --size 1000; [ $? = 1 ] || fail "a size that is not whole blocks must be refused"
"$BIN/ibnbd" resize --session e2e --device vol0 --size lots; [ $? = 2 ] || fail "a size that is no number must be a usage error"
"$BIN/ibnbd" unmap --session e2e --device vol0 || fail "unmap"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; rc=$?; SERVER_PID=""
[ $rc = 0 ] || fail "ibnbd-server exited with $rc on SIGTERM"
echo "1 passed, 0 failed"
