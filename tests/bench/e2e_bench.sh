#!/usr/bin/env bash
# ibnbd-bench end to end: verified mixed IO with --json against ibnbd-server (ibnbd:// over
# libfabric tcp on loopback), against nbdkit's memory plugin (nbd:// through libnbd) and against
# ibnbd-client's own NBD export of the same server (nbd+unix://). Checks the JSON fields and that
# not one byte read back was wrong.
BIN=$1; source "$(dirname "$0")/lib.sh"
built ibnbd-server ibnbd-bench ibnbd-client ibnbd
need nbdkit nbdinfo python3
P1=$(random_port); P2=$((P1 + 1))
start_ibnbd_server "$P1" 64M
start_nbdkit "$P2" 64M

check_json() {  # check_json FILE TARGET
    local f=$1
    [ "$(json_get "$f" 'j["target"]')" = "$2" ] || fail "target field of $f"
    [ "$(json_get "$f" 'j["verify"]["mismatches"]')" = 0 ] || fail "verify mismatches in $f"
    [ "$(json_get "$f" 'j["io_errors"]')" = 0 ] || fail "IO errors in $f"
    [ "$(json_get "$f" 'j["verify"]["prefill_bytes"]')" = 16777216 ] || fail "prefill did not cover the region"
    for dir in read write; do
        [ "$(json_get "$f" "j['$dir']['ios'] > 100")" = True ] || fail "$dir IOs in $f"
        [ "$(json_get "$f" "j['$dir']['iops'] > 0 and j['$dir']['bw_bytes_per_s'] > 0")" = True ] || fail "$dir rates"
        [ "$(json_get "$f" "0 < j['$dir']['lat_ns']['min'] <= j['$dir']['lat_ns']['p50'] <= j['$dir']['lat_ns']['p99'] <= j['$dir']['lat_ns']['p99.9'] <= j['$dir']['lat_ns']['max']")" = True ] \
            || fail "$dir latency percentiles out of order in $f"
    done
    [ "$(json_get "$f" 'j["verify"]["checked_ios"] >= j["read"]["ios"]')" = True ] || fail "reads not all verified"
    [ "$(json_get "$f" 'abs(j["runtime_s"] - 2) < 0.2')" = True ] || fail "runtime_s in $f"
}

IB="ibnbd://bench/vol0?path=127.0.0.1:$P1"
"$BIN/ibnbd-bench" --rw randrw --bs 4k,64k --iodepth 8 --numjobs 2 --size 16m --runtime 2 --verify --json "$IB" \
    > "$WORK/ibnbd.json" 2> "$WORK/ibnbd-bench.log" || fail "ibnbd-bench against ibnbd:// (exit $?)"
grep -q "ibnbd-bench: .*run .*IOPS" "$WORK/ibnbd-bench.log" || fail "no progress line on stderr"
check_json "$WORK/ibnbd.json" "$IB"

NB="nbd://127.0.0.1:$P2/"
"$BIN/ibnbd-bench" --rw randrw --bs 4k,64k --iodepth 8 --numjobs 2 --size 16m --runtime 2 --verify --json "$NB" \
    > "$WORK/nbd.json" 2> "$WORK/nbd-bench.log" || fail "ibnbd-bench against nbd:// (exit $?)"
check_json "$WORK/nbd.json" "$NB"
[ "$(json_get "$WORK/nbd.json" 'j["engine"]')" != "$(json_get "$WORK/ibnbd.json" 'j["engine"]')" ] || fail "engine names"
# Our own export: ibnbd-client maps the server's vol0 and exports it on a unix socket.
export IBNBD_CONTROL=$WORK/client.sock
"$BIN/ibnbd-client" --control-socket "$IBNBD_CONTROL" --nbd-dir "$WORK/nbd" >> "$WORK/client.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$IBNBD_CONTROL" ] && break; sleep 0.1; done
"$BIN/ibnbd" map --session export --path "127.0.0.1:$P1" --device vol0 >> "$WORK/client.log" 2>&1 || fail "ibnbd map"
UX="nbd+unix:///vol0?socket=$WORK/nbd/export@vol0.sock"
"$BIN/ibnbd-bench" --rw randrw --bs 4k,64k --iodepth 8 --size 16m --runtime 2 --verify --json "$UX" \
    > "$WORK/export.json" 2> "$WORK/export-bench.log" || fail "ibnbd-bench against nbd+unix:// (exit $?)"
check_json "$WORK/export.json" "$UX"

echo "ibnbd: $(json_get "$WORK/ibnbd.json" 'round(j["read"]["iops"])') read IOPS; nbdkit: $(json_get "$WORK/nbd.json" 'round(j["read"]["iops"])')"
echo "1 passed, 0 failed"
