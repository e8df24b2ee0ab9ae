#!/usr/bin/env bash
# The server is killed (SIGKILL) and restarted while a copy is running: the client remaps by
# itself, the copy finishes without an error, and every byte it wrote (and flushed) is there.
BIN=$1; source "$(dirname "$0")/lib.sh"
need nbdcopy cmp
mkdir -p "$WORK/vols" && truncate -s 320M "$WORK/vols/vol0"
start_server
start_client --wait-while-reconnecting-ms 30000
"$BIN/ibnbd" map --session restart --path "127.0.0.1:$PORT" --device vol0 || fail "map"
head -c 256M /dev/urandom > "$WORK/in.bin"
# Three copies in a row, so that the server dies while IO is running (one copy can finish in a
# quarter of a second); it dies as soon as writes are seen.
(for _ in 1 2 3; do nbdcopy --requests=4 "$WORK/in.bin" "$(uri restart vol0)" || exit 1; done) > "$WORK/copy.log" 2>&1 &
COPY=$!
writes() { "$BIN/ibnbd" --json stats --session restart | grep -m1 '"write_count"' | tr -dc 0-9; }
for _ in $(seq 500); do [ "$(writes)" -gt 0 ] && break; sleep 0.01; done
[ "$(writes)" -gt 0 ] || fail "no IO reached the server"
kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
sleep 1
start_server
wait "$COPY" || fail "nbdcopy failed across the restart: $(cat "$WORK/copy.log")"
remapped() { "$BIN/ibnbd" --json show --session restart --device vol0 | grep -q '"remaps": [1-9]'; }
wait_for 20 remapped || fail "the device was not remapped after the restart"
nbdcopy "$(uri restart vol0)" "$WORK/out.bin" || fail "read back"
cmp -n 268435456 "$WORK/in.bin" "$WORK/out.bin" || fail "data lost across the restart"
echo "1 passed, 0 failed"
