#!/usr/bin/env bash
# The server daemon on two reactor threads: two sessions are placed on different reactors (each
# with all its connections and IO there; reactor 0's listener hands the other's over), both carry
# 32 MiB of random data in and out at the same time and the data is right, the access-mode rules
# hold across reactors, the control socket merges what every reactor has, and SIGTERM drains and
# flushes every reactor before exit 0.
BIN=$1; source "$(dirname "$0")/lib.sh"
need nbdcopy cmp
mkdir -p "$WORK/vols" && truncate -s 64M "$WORK/vols/vol0" "$WORK/vols/vol1"
SERVER_CONTROL="$WORK/server.sock"
start_server --reactors 2 --control-socket "$SERVER_CONTROL"
grep -q "2 reactors" "$WORK/server.log" || fail "the server does not say it runs 2 reactors: $(cat "$WORK/server.log")"
start_client --reactors 1
"$BIN/ibnbd" map --session s0 --path "127.0.0.1:$PORT" --device vol0 || fail "map s0"
"$BIN/ibnbd" map --session s1 --path "127.0.0.1:$PORT" --device vol1 || fail "map s1"
server_json() { "$BIN/ibnbd" --control-socket "$SERVER_CONTROL" --json "$@" | tr -d ' \n'; }
server_json list > "$WORK/list.json" || fail "server list: $(cat "$WORK/list.json")"
reactor_of() { grep -o "{[^{}]*\"session\":\"$1\"[^{}]*}" "$WORK/list.json" | grep -o '"reactor":[0-9]*' | tr -dc 0-9; }
[ -n "$(reactor_of s0)" ] && [ -n "$(reactor_of s1)" ] || fail "server list does not name the reactors: $(cat "$WORK/list.json")"
[ "$(reactor_of s0)" != "$(reactor_of s1)" ] || fail "both sessions are on server reactor $(reactor_of s0)"
stats=$(server_json stats --session any)
grep -q '"sessions_per_reactor":\[1,1\]' <<< "$stats" || fail "sessions not spread over the reactors: $stats"
handed=$(grep -o '"handed_over":[0-9]*' <<< "$stats" | tr -dc 0-9)
[ "${handed:-0}" -ge 2 ] || fail "no connections were handed to reactor 1: $stats"

copy_both s0 vol0 s1 vol1

# vol0 is written by s0 on one reactor: s1, on the other, may read it but not write it.
"$BIN/ibnbd" map --session s1 --device vol0 --access-mode rw 2> "$WORK/refused.txt" && fail "a second rw writer of vol0 was let in"
grep -q "not permitted" "$WORK/refused.txt" || fail "the second writer was refused for another reason: $(cat "$WORK/refused.txt")"
"$BIN/ibnbd" map --session s1 --device vol0 --access-mode ro || fail "a reader of vol0 on the other reactor was refused"
nbdcopy "$(uri s1 vol0)" "$WORK/ro.bin" || fail "nbdcopy out of vol0 through s1"
cmp -n 33554432 "$WORK/in0.bin" "$WORK/ro.bin" || fail "s1 read wrong data from vol0"
"$BIN/ibnbd" unmap --session s1 --device vol0 || fail "unmap the reader"
"$BIN/ibnbd" unmap --session s0 --device vol0 || fail "unmap the writer"
"$BIN/ibnbd" map --session s1 --device vol0 --access-mode rw || fail "rw on the other reactor after the writer left"

kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; rc=$?; SERVER_PID=""
[ $rc = 0 ] || fail "ibnbd-server exited with $rc on SIGTERM: $(tail -5 "$WORK/server.log")"
grep -q "device flushes, 0 failed" "$WORK/server.log" || fail "the server did not flush: $(tail -5 "$WORK/server.log")"
echo "1 passed, 0 failed"
