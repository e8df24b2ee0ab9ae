#!/usr/bin/env bash
# The client daemon on two reactor threads: two sessions have their control on different reactors,
# both carry 32 MiB of random data in and out at the same time, and the data is right. Each
# session's IO runs on both reactors: its NBD connections (nbdcopy opens several) are handed to
# the reactors in turn, and each reactor's IO shard completes requests on its own connections.
BIN=$1; source "$(dirname "$0")/lib.sh"
need nbdcopy cmp
mkdir -p "$WORK/vols" && truncate -s 64M "$WORK/vols/vol0" "$WORK/vols/vol1"
out=$("$BIN/ibnbd-client" --reactors 256 --io-connections 64 --control-socket "$WORK/never.sock" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "exceeds the 4095 connections" <<< "$out" || fail "too many connections per path accepted (rc $rc): $out"
start_server
start_client --reactors 2
"$BIN/ibnbd" map --session r0 --path "127.0.0.1:$PORT" --device vol0 || fail "map r0"
"$BIN/ibnbd" map --session r1 --path "127.0.0.1:$PORT" --device vol1 || fail "map r1"
"$BIN/ibnbd" --json list > "$WORK/list.json"
reactor_of() { tr -d ' \n' < "$WORK/list.json" | grep -o "{[^{}]*\"session\":\"$1\"[^{}]*}" | grep -o '"reactor":[0-9]*' | tr -dc 0-9; }
[ -n "$(reactor_of r0)" ] && [ -n "$(reactor_of r1)" ] || fail "list does not name the reactors: $(cat "$WORK/list.json")"
[ "$(reactor_of r0)" != "$(reactor_of r1)" ] || fail "both sessions are on reactor $(reactor_of r0)"
copy_both r0 vol0 r1 vol1
"$BIN/ibnbd" stats --session r1 | grep -q connected || fail "stats of the session on reactor 1"
# Two single-connection readers at once: consecutive connections go to different reactors, and
# each reactor's shard of the session does the IO of its connection (64 MiB in requests of at
# most 128 KiB: 512 or more).
for s in 0 1; do
    nbdcopy --connections=1 "$(uri r$s vol$s)" "$WORK/a$s.bin" & ra=$!
    nbdcopy --connections=1 "$(uri r$s vol$s)" "$WORK/b$s.bin" & rb=$!
    wait $ra || fail "reader a of r$s"; wait $rb || fail "reader b of r$s"
    cmp -n 33554432 "$WORK/in$s.bin" "$WORK/a$s.bin" && cmp -n 33554432 "$WORK/in$s.bin" "$WORK/b$s.bin" ||
        fail "a reader of r$s read wrong data"
    "$BIN/ibnbd" --json stats --session r$s | tr -d ' \n' > "$WORK/stats.json"
    # Each IO shard on its reactor carried a reader's IO; its request slots (free, posted, written
    # or answered, free) and block IOs (free, in transport, free) counted their state changes.
    python3 - "$WORK/stats.json" <<'PY' || fail "session r$s: IO shards: $(cat "$WORK/stats.json")"
import json, sys
io_shards = json.load(open(sys.argv[1]))["io_shards"]
assert sorted(s["reactor"] for s in io_shards) == [0, 1], "not one IO shard per reactor"
for s in io_shards:
    assert s["requests_completed_ok"] >= 512, "a reactor did not carry a reader's IO"
    assert s["slot_transitions"] >= 3 * s["requests_completed_ok"], "request slot transitions not counted"
    assert s["io_transitions"] >= s["requests_completed_ok"], "block IO transitions not counted"
PY
done
"$BIN/ibnbd" unmap --session r1 --device vol1 || fail "unmap on reactor 1"
"$BIN/ibnbd" unmap --session r0 --device vol0 || fail "unmap on reactor 0"
kill -TERM "$CLIENT_PID"; wait "$CLIENT_PID"; rc=$?; CLIENT_PID=""
[ $rc = 0 ] || fail "ibnbd-client exited with $rc on SIGTERM"
echo "1 passed, 0 failed"
