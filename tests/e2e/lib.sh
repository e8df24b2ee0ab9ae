# Shared helpers of the end-to-end tests: start and stop the daemons on loopback, wait for things,
# and clean up whatever happens. Source it; BIN must name the build's bin directory.
set -u
WORK=$(mktemp -d /tmp/ibnbd-e2e.XXXXXX)
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
PORT=$(( 20000 + RANDOM % 20000 ))
export IBNBD_CONTROL=$WORK/client.sock
SERVER_PID=""
CLIENT_PID=""

cleanup() {
    [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT



# Heartbeat interval of both daemons: short so that failures are seen fast; the sanitizer presets
# raise it (their daemons run many times slower).
HB_MS=${IBNBD_E2E_HB_MS:-200}

start_server() {  # extra arguments go to ibnbd-server; returns once it listens
    local started; started=$(grep -c serving "$WORK/server.log" 2>/dev/null)
    "$BIN/ibnbd-server" --listen "127.0.0.1:$PORT" --dev-search-path "$WORK/vols" --queue-depth 64 \
        --hb-interval-ms "$HB_MS" --hb-missed 3 "$@" >> "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    server_ready "$WORK/server.log" "$SERVER_PID" "${started:-0}" || fail "ibnbd-server did not start"
}

start_client() {  # extra arguments go to ibnbd-client
    "$BIN/ibnbd-client" --control-socket "$IBNBD_CONTROL" --nbd-dir "$WORK/nbd" --hb-interval-ms "$HB_MS" \
        --hb-missed 3 --reconnect-delay-ms 200 "$@" >> "$WORK/client.log" 2>&1 &
    CLIENT_PID=$!
    for _ in $(seq 50); do [ -S "$IBNBD_CONTROL" ] && return 0; sleep 0.1; done
    fail "ibnbd-client did not create its control socket"
}

uri() { echo "nbd+unix:///$2?socket=$WORK/nbd/$1@$2.sock"; }

wait_for() {  # wait_for SECONDS command...
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@"; do [ "$(date +%s)" -ge "$deadline" ] && return 1; sleep 0.2; done
}

# copy_both S0 D0 S1 D1: 32 MiB of random data ($WORK/in0.bin, in1.bin) into two mapped devices
# at the same time, read back at the same time, and compared.
copy_both() {
    local s0=$1 d0=$2 s1=$3 d1=$4 c0 c1
    for i in 0 1; do head -c 32M /dev/urandom > "$WORK/in$i.bin"; done
    nbdcopy "$WORK/in0.bin" "$(uri "$s0" "$d0")" & c0=$!
    nbdcopy "$WORK/in1.bin" "$(uri "$s1" "$d1")" & c1=$!
    wait $c0 || fail "nbdcopy into $s0"; wait $c1 || fail "nbdcopy into $s1"
    nbdcopy "$(uri "$s0" "$d0")" "$WORK/out0.bin" & c0=$!
    nbdcopy "$(uri "$s1" "$d1")" "$WORK/out1.bin" & c1=$!
    wait $c0 || fail "nbdcopy out of $s0"; wait $c1 || fail "nbdcopy out of $s1"
    cmp -n 33554432 "$WORK/in0.bin" "$WORK/out0.bin" || fail "session $s0 read back wrong data"
    cmp -n 33554432 "$WORK/in1.bin" "$WORK/out1.bin" || fail "session $s1 read back wrong data"
}
