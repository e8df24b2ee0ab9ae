#!/usr/bin/env bash
# ibnbd-bench --verify must catch wrong data, on both kinds of target: a region written under one
# seed reads back clean under that seed and fails (exit 3, mismatches reported) under another;
# and a byte changed behind the benchmark's back (nbdcopy into nbdkit) is found at its offset.
BIN=$1; source "$(dirname "$0")/lib.sh"
built ibnbd-server ibnbd-bench
need nbdkit nbdinfo nbdcopy python3
P1=$(random_port); P2=$((P1 + 1))
start_ibnbd_server "$P1" 32M
start_nbdkit "$P2" 32M

seeds_check() {  # seeds_check TARGET
    "$BIN/ibnbd-bench" -q --rw write --bs 64k --iodepth 4 --size 8m --runtime 0.5 --verify --seed 11 "$1" \
        > "$WORK/write.txt" || fail "writing seed 11 to $1"
    "$BIN/ibnbd-bench" -q --rw randread --iodepth 4 --size 8m --runtime 0.5 --verify --no-prefill --seed 11 --json "$1" \
        > "$WORK/same.json" || fail "reading back seed 11 from $1 found errors"
    [ "$(json_get "$WORK/same.json" 'j["verify"]["mismatches"]')" = 0 ] || fail "same seed mismatches"
    "$BIN/ibnbd-bench" -q --rw randread --iodepth 4 --size 8m --runtime 0.5 --verify --no-prefill --seed 12 --json "$1" \
        > "$WORK/other.json" 2> "$WORK/other.log"
    local status=$?
    [ "$status" = 3 ] || fail "a different seed exited $status, not 3, on $1"
    [ "$(json_get "$WORK/other.json" 'j["verify"]["mismatches"] == j["verify"]["checked_ios"] > 0')" = True ] \
        || fail "not every read of foreign data was flagged on $1"
    grep -q "verify failed" "$WORK/other.log" || fail "no verify failure message on stderr"
}
seeds_check "ibnbd://verify/vol0?path=127.0.0.1:$P1"
seeds_check "nbd://127.0.0.1:$P2/"

# Corrupt one byte at 1 MiB + 100 behind the benchmark's back, then read that block back.
head -c 1 /dev/urandom | python3 -c 'import sys; sys.stdout.buffer.write(bytes([sys.stdin.buffer.read(1)[0] ^ 0xff]))' > "$WORK/byte"
"$BIN/ibnbd-bench" -q --rw write --bs 4k --size 2m --runtime 0.3 --verify --seed 7 "nbd://127.0.0.1:$P2/" > /dev/null \
    || fail "writing the pattern"
nbdcopy "nbd://127.0.0.1:$P2/" "$WORK/image" || fail "nbdcopy out"
python3 - "$WORK/image" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1048576 + 100); b = f.read(1); f.seek(1048576 + 100); f.write(bytes([b[0] ^ 0x5a]))
PY
nbdcopy "$WORK/image" "nbd://127.0.0.1:$P2/" || fail "nbdcopy in"
"$BIN/ibnbd-bench" -q --rw read --bs 4k --offset 1m --size 4k --runtime 0.3 --verify --no-prefill --seed 7 --json \
    "nbd://127.0.0.1:$P2/" > "$WORK/corrupt.json"
[ $? = 3 ] || fail "the corrupted byte went unnoticed"
json_get "$WORK/corrupt.json" 'j["verify"]["first_mismatch"]' | grep -q "device offset 1048676" \
    || fail "mismatch not located: $(json_get "$WORK/corrupt.json" 'j["verify"]["first_mismatch"]')"
echo "1 passed, 0 failed"
