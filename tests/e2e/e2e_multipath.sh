#!/usr/bin/env bash
# Two paths through two network namespaces joined by two veth pairs (198.18.1.0/24 and
# 198.18.2.0/24, only inside the namespaces made here). One veth goes down under load: no IO
# error, data verified, `ibnbd stats` shows the failover; it comes back: the path reconnects and
# carries IO again. Then an operator disconnects one path (it stays closed, IO goes on) and readds it.
BIN=$1; source "$(dirname "$0")/lib.sh"
need ip nbdcopy cmp
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
NS_S=ibnbd-s-$$; NS_C=ibnbd-c-$$
ip netns add "$NS_S" 2>/dev/null || skip "cannot create network namespaces here"
ip netns add "$NS_C" || { ip netns del "$NS_S"; skip "cannot create network namespaces here"; }
netns_cleanup() { ip netns del "$NS_S" 2>/dev/null; ip netns del "$NS_C" 2>/dev/null; cleanup; }
trap netns_cleanup EXIT
for n in 1 2; do
    ip link add "ib$n-$$s" type veth peer name "ib$n-$$c" || skip "veth pairs are not available"
    ip link set "ib$n-$$s" netns "$NS_S"; ip link set "ib$n-$$c" netns "$NS_C"
    ip -n "$NS_S" addr add "198.18.$n.1/24" dev "ib$n-$$s"; ip -n "$NS_S" link set "ib$n-$$s" up
    ip -n "$NS_C" addr add "198.18.$n.2/24" dev "ib$n-$$c"; ip -n "$NS_C" link set "ib$n-$$c" up
done
ip -n "$NS_S" link set lo up; ip -n "$NS_C" link set lo up
mkdir -p "$WORK/vols" && truncate -s 320M "$WORK/vols/vol0"
ip netns exec "$NS_S" "$BIN/ibnbd-server" --listen "198.18.1.1:$PORT" --listen "198.18.2.1:$PORT" \
    --dev-search-path "$WORK/vols" --queue-depth 64 --hb-interval-ms "$HB_MS" --hb-missed 3 > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_for 10 grep -q serving "$WORK/server.log" || fail "ibnbd-server did not start"
ip netns exec "$NS_C" "$BIN/ibnbd-client" --control-socket "$IBNBD_CONTROL" --nbd-dir "$WORK/nbd" \
    --hb-interval-ms "$HB_MS" --hb-missed 3 --reconnect-delay-ms 200 --policy round-robin > "$WORK/client.log" 2>&1 &
CLIENT_PID=$!
wait_for 10 test -S "$IBNBD_CONTROL" || fail "ibnbd-client did not start"
"$BIN/ibnbd" map --session mp --path "198.18.1.2@198.18.1.1:$PORT" --path "198.18.2.2@198.18.2.1:$PORT" \
    --device vol0 || fail "map"
both_up() { [ "$("$BIN/ibnbd" --json stats --session mp | grep -c '"state": "connected"')" = 2 ]; }
wait_for 10 both_up || fail "both paths did not connect"
head -c 256M /dev/urandom > "$WORK/in.bin"
# The same data three times over, so that the load lasts well beyond the moment the link goes down
# (one copy can finish in a quarter of a second); the link goes down as soon as path 0 carries IO.
(for _ in 1 2 3; do nbdcopy --requests=8 "$WORK/in.bin" "$(uri mp vol0)" || exit 1; done) > "$WORK/copy.log" 2>&1 &
COPY=$!
writes_on_path0() { "$BIN/ibnbd" --json stats --session mp | grep -m1 '"write_count"' | tr -dc 0-9; }
for _ in $(seq 500); do [ "$(writes_on_path0)" -gt 0 ] && break; sleep 0.01; done
[ "$(writes_on_path0)" -gt 0 ] || fail "no IO reached path 0"
ip -n "$NS_C" link set "ib1-$$c" down
wait "$COPY" || fail "IO failed while a path was down: $(cat "$WORK/copy.log")"
"$BIN/ibnbd" --json stats --session mp > "$WORK/stats.json"
grep -q '"failovered": [1-9]' "$WORK/stats.json" || \
    grep -q '"state": "reconnecting"' "$WORK/stats.json" || fail "stats show neither failover nor the dead path"
nbdcopy "$(uri mp vol0)" "$WORK/out.bin" || fail "read back"
cmp -n 268435456 "$WORK/in.bin" "$WORK/out.bin" || fail "data differs after the failover"
ip -n "$NS_C" link set "ib1-$$c" up
wait_for 20 both_up || fail "the path did not reconnect after the link came back"
reads_on_path0() { "$BIN/ibnbd" --json stats --session mp | grep -m1 '"read_count"' | tr -dc 0-9; }
before=$(reads_on_path0)
nbdcopy "$(uri mp vol0)" "$WORK/out2.bin" || fail "read after reconnect"
[ "$(reads_on_path0)" -gt "$before" ] || fail "the returned path carries no IO"
cmp -n 268435456 "$WORK/in.bin" "$WORK/out2.bin" || fail "data differs after the path returned"
# An operator closes a path: it stays closed (no automatic reconnect) until readd.
"$BIN/ibnbd" path disconnect --session mp --path "198.18.1.2@198.18.1.1:$PORT" || fail "path disconnect"
one_closed() { "$BIN/ibnbd" --json stats --session mp | grep -q '"state": "closed"'; }
wait_for 10 one_closed || fail "the disconnected path is not closed"
sleep 1  # longer than the reconnect delay: it must stay closed
one_closed || fail "the disconnected path reconnected by itself"
nbdcopy "$WORK/in.bin" "$(uri mp vol0)" || fail "IO with one path disconnected"
"$BIN/ibnbd" path readd --session mp --path "198.18.1.2@198.18.1.1:$PORT" || fail "path readd"
wait_for 20 both_up || fail "the path did not come back after readd"
"$BIN/ibnbd" stats --session mp
echo "1 passed, 0 failed"
