#!/usr/bin/env bash
# A connection flood: 2,000 plain TCP connections to the server's listen port
# within 4 s (tests/e2e/flood.py: connect and close, random bytes, silent, part of a libfabric CM
# request, a complete CM request with an RTRS CON_REQ and then silence), while a mapped device
# does verified IO. Checked: a new session maps during the flood and another right after it; the
# IO reads back what it wrote throughout; the server itself closed every connection the flood held
# open (its handshake limit and timeout, not the flood's end); no socket is left in CLOSE-WAIT and
# the server's descriptor count returns to its baseline; the stats count what was dropped.
BIN=$1; source "$(dirname "$0")/lib.sh"
need nbdcopy python3 cmp ss
mkdir -p "$WORK/vols" && for v in vol0 vol1 vol2; do truncate -s 64M "$WORK/vols/$v"; done
SERVER_SOCK=$WORK/server.sock
# A short handshake timeout (default 10 s) keeps the test short; the limit is the default (128).
# FLOOD_SERVER_ARGS=" " runs it against a server without these options (an older build).
FLOOD_SERVER_ARGS=${FLOOD_SERVER_ARGS---handshake-timeout-ms 2000}
# shellcheck disable=SC2086
start_server --reactors 2 --control-socket "$SERVER_SOCK" $FLOOD_SERVER_ARGS
start_client
server_fds() { ls "/proc/$SERVER_PID/fd" | wc -l; }
close_wait() { ss -tanH state close-wait "( sport = :$PORT )" | wc -l; }
sleep 0.5
NO_SESSION=$(server_fds)
"$BIN/ibnbd" map --session s1 --path "127.0.0.1:$PORT" --device vol0 > /dev/null || fail "map s1"
sleep 0.5
# After the flood the server has s1 and s2 (mapped during the flood): the baseline, and what a
# session costs once more.
BASELINE=$(( $(server_fds) * 2 - NO_SESSION ))

# Verified IO through the client's NBD export until told to stop: write random data, read it
# back, compare; a failure is recorded and ends the loop.
head -c 8M /dev/urandom > "$WORK/in.bin"
io_loop() {
    local rounds=0
    while [ ! -e "$WORK/stop-io" ]; do
        nbdcopy "$WORK/in.bin" "$(uri s1 vol0)" && nbdcopy "$(uri s1 vol0)" "$WORK/out.bin" &&
            cmp -s -n 8388608 "$WORK/in.bin" "$WORK/out.bin" || { echo "failed after $rounds rounds" > "$WORK/io.status"; return; }
        rounds=$((rounds + 1))
    done
    echo "ok $rounds" > "$WORK/io.status"
}
io_loop & IO_PID=$!

python3 "$(dirname "$0")/flood.py" --port "$PORT" --count 2000 --seconds 4 --hold 6 > "$WORK/flood.json" 2> "$WORK/flood.log" &
FLOOD_PID=$!
sleep 2
"$BIN/ibnbd" map --session s2 --path "127.0.0.1:$PORT" --device vol1 > "$WORK/map-s2.log" 2>&1 ||
    fail "a new session could not map during the flood: $(cat "$WORK/map-s2.log")"
wait "$FLOOD_PID" || fail "flood.py failed: $(cat "$WORK/flood.log")"
touch "$WORK/stop-io"; wait "$IO_PID"
grep -q '^ok [1-9]' "$WORK/io.status" || fail "verified IO during the flood: $(cat "$WORK/io.status")"

# Every held connection was closed by the server while the flood still held it.
python3 - "$WORK/flood.json" <<'PY' || fail "flood report: $(cat "$WORK/flood.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert sum(r["made"].values()) >= 1900, f"the flood made too few connections: {r}"
for kind in ("silent", "partial", "rtrs"):
    assert r["closed_by_server"][kind] == r["made"][kind], f"{kind}: the server left some open: {r}"
PY
no_close_wait() { [ "$(close_wait)" = 0 ]; }
fds_at_baseline() { [ "$(server_fds)" -le $((BASELINE + 4)) ]; }
SLACK_NOTE="(with s1 and s2; 4 spare)"
wait_for 15 no_close_wait || fail "$(close_wait) sockets left in CLOSE-WAIT"
wait_for 15 fds_at_baseline || fail "the server holds $(server_fds) descriptors, baseline $BASELINE $SLACK_NOTE"
"$BIN/ibnbd" map --session s3 --path "127.0.0.1:$PORT" --device vol2 > /dev/null || fail "map s3 after the flood"
nbdcopy "$WORK/in.bin" "$(uri s3 vol2)" && nbdcopy "$(uri s3 vol2)" "$WORK/out3.bin" ||
    fail "IO on the session mapped after the flood"
cmp -s -n 8388608 "$WORK/in.bin" "$WORK/out3.bin" || fail "s3 read back wrong data"

"$BIN/ibnbd" --control-socket "$SERVER_SOCK" --json stats --session any > "$WORK/stats.json" || fail "server stats"
python3 - "$WORK/stats.json" <<'PY' || fail "server stats: $(cat "$WORK/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["connections_dropped"] > 0, "no silent connection was dropped"
assert s["handshakes_dropped"] + s["handshakes_timed_out"] > 0, "no RTRS handshake was dropped or timed out"
assert s["pending_handshakes"] == 0, "handshakes still pending"
assert s["sessions"] == 3, f"{s['sessions']} sessions, want s1, s2, s3"
PY
echo "1 passed, 0 failed"
