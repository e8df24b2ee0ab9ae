#!/usr/bin/env bash
# The client daemon on two reactor threads: two sessions land on different reactors (each with its
# own fabric), both carry 32 MiB of random data in and out at the same time, and the data is right.
BIN=$1; source "$(dirname "$0")/lib.sh"
need nbdcopy cmp
mkdir -p "$WORK/vols" && truncate -s 64M "$WORK/vols/vol0" "$WORK/vols/vol1"
start_server
start_client --reactors 2
"$BIN/ibnbd" map --session r0 --path "127.0.0.1:$PORT" --device vol0 || fail "map r0"
"$BIN/ibnbd" map --session r1 --path "127.0.0.1:$PORT" --device vol1 || fail "map r1"
"$BIN/ibnbd" --json list > "$WORK/list.json"
reactor_of() { tr -d ' \n' < "$WORK/list.json" | grep -o "{[^{}]*\"session\":\"$1\"[^{}]*}" | grep -o '"reactor":[0-9]*' | tr -dc 0-9; }
[ -n "$(reactor_of r0)" ] && [ -n "$(reactor_of r1)" ] || fail "list does not name the reactors: $(cat "$WORK/list.json")"
[ "$(reactor_of r0)" != "$(reactor_of r1)" ] || fail "both sessions are on reactor $(reactor_of r0)"
for s in 0 1; do head -c 32M /dev/urandom > "$WORK/in$s.bin"; done
nbdcopy "$WORK/in0.bin" "$(uri r0 vol0)" & c0=$!
nbdcopy "$WORK/in1.bin" "$(uri r1 vol1)" & c1=$!
wait $c0 || fail "nbdcopy into r0"; wait $c1 || fail "nbdcopy into r1"
nbdcopy "$(uri r0 vol0)" "$WORK/out0.bin" & c0=$!
nbdcopy "$(uri r1 vol1)" "$WORK/out1.bin" & c1=$!
wait $c0 || fail "nbdcopy out of r0"; wait $c1 || fail "nbdcopy out of r1"
for s in 0 1; do cmp -n 33554432 "$WORK/in$s.bin" "$WORK/out$s.bin" || fail "session r$s read back wrong data"; done
"$BIN/ibnbd" stats --session r1 | grep -q connected || fail "stats of the session on reactor 1"
"$BIN/ibnbd" unmap --session r1 --device vol1 || fail "unmap on reactor 1"
"$BIN/ibnbd" unmap --session r0 --device vol0 || fail "unmap on reactor 0"
kill -TERM "$CLIENT_PID"; wait "$CLIENT_PID"; rc=$?; CLIENT_PID=""
[ $rc = 0 ] || fail "ibnbd-client exited with $rc on SIGTERM"
echo "1 passed, 0 failed"
