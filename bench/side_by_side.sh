#!/usr/bin/env bash
# Side-by-side run on one machine, in one go: ibnbd (ibnbd-server over a tmpfs file, ibnbd-bench
# with an ibnbd:// target over libfabric tcp on loopback) against nbdkit's memory plugin (through
# libnbd, nbd:// on loopback), with the raw fabric round trip (fabric_pingpong) as the floor.
# Workloads: 4 KiB randread and randwrite at QD 1, 8, 32, 128; 128 KiB sequential read and write.
# Writes bench/results/latest.{md,svg,json}, replacing the last run's (history: bench/README.md).
#
# ibnbd and nbdkit runs alternate workload by workload, so that a burst of load elsewhere on the
# machine hits both; with --repeat N every pair runs N times and the report takes the median.
# --hog N runs N CPU hogs (busy shell loops at the daemons' priority, N = nproc for "all") while
# the daemons run, the contention case: writes bench/results/latest-hog.* instead.
#
#   bash bench/side_by_side.sh [--runtime S] [--ramp S] [--repeat N] [--hog N|all] [--multipath] [--no-build]
#   SBS_SERVER_ARGS: more ibnbd-server options for an experiment (e.g. "--spin-polls 0")
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/server_ready.sh"
BIN=${IBNBD_BIN:-$ROOT/build/bin}  # another build: IBNBD_BIN=build-asan/bin
RUNTIME=3
RAMP=0.5
MULTIPATH=0
BUILD=1
REPEAT=1
HOG=0
while [ $# -gt 0 ]; do
    case $1 in
        --runtime) RUNTIME=$2; shift 2 ;;
        --ramp) RAMP=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --multipath) MULTIPATH=1; shift ;;
        --hog) HOG=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
        *) echo "side_by_side.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$REPEAT" =~ ^[1-9][0-9]?$ ]] || { echo "side_by_side.sh: --repeat takes 1-99" >&2; exit 2; }
[ "$HOG" = all ] && HOG=$(nproc)
[[ "$HOG" =~ ^[0-9]{1,2}$ ]] || { echo "side_by_side.sh: --hog takes 0-99 or all" >&2; exit 2; }
for tool in nbdkit nbdinfo python3; do
    command -v "$tool" >/dev/null || { echo "side_by_side.sh: $tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done

if [ "$BUILD" = 1 ]; then
    [ -f "$ROOT/build/build.ninja" ] || cmake --preset default -S "$ROOT" >/dev/null
    cmake --build "$ROOT/build" -j2 --target ibnbd-server ibnbd-bench fabric_pingpong
fi

WORK=$(mktemp -d /dev/shm/ibnbd-sbs.XXXXXX)   # tmpfs: the server's storage is memory, as nbdkit's is
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(( 20000 + RANDOM % 20000 )); NBD_PORT=$((PORT + 1))
SIZE=1G

mkdir -p "$WORK/vols" "$WORK/json" && truncate -s $SIZE "$WORK/vols/vol0"
# The floor first, while nothing else of ours runs: once per repetition; the report takes the
# fastest run (noise only ever slows a round trip down).
echo "== raw fabric round trip (fabric_pingpong, ofi tcp, 4 KiB)"
for rep in $(seq "$REPEAT"); do
    for mode in write-imm send; do
        "$BIN/fabric_pingpong" --mode $mode --size 4096 --iterations 20000 --json > "$WORK/json/pingpong-$mode-r$rep.json"
        cat "$WORK/json/pingpong-$mode-r$rep.json"
    done
done

# Chunks of 256 KiB so that a 128 KiB IO fits with its header; queue depth 128 is what libfabric
# tcp's queues carry (the server's default there).
"$BIN/ibnbd-server" --listen "127.0.0.1:$PORT" --dev-search-path "$WORK/vols" --queue-depth 128 \
    --chunk-size 262144 ${SBS_SERVER_ARGS:-} > "$WORK/server.log" 2>&1 &
PIDS+=($!)
server_ready "$WORK/server.log" "${PIDS[-1]}" || { cat "$WORK/server.log"; echo "ibnbd-server did not start" >&2; exit 1; }
nbdkit --exit-with-parent -f -i 127.0.0.1 -p "$NBD_PORT" memory $SIZE > "$WORK/nbdkit.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do nbdinfo --size "nbd://127.0.0.1:$NBD_PORT" >/dev/null 2>&1 && break; sleep 0.1; done

# The contention case: hogs that never sleep, at the daemons' priority, from here to the end.
for _ in $(seq "$HOG"); do
    bash -c 'while :; do :; done' &
    PIDS+=($!)
done
[ "$HOG" -gt 0 ] && echo "== $HOG CPU hogs running" && sleep 2

# Both daemons and the benchmark share this machine's CPUs with whatever else runs: record the load.
cut -d' ' -f1-3 /proc/loadavg > "$WORK/json/load-before.txt"
[ "$HOG" = 0 ] && [ "$(cut -d. -f1 /proc/loadavg)" -ge 1 ] && echo "side_by_side.sh: warning: load average $(cut -d' ' -f1 /proc/loadavg); numbers will be noisy" >&2

IBNBD="ibnbd://sbs/vol0?path=127.0.0.1:$PORT"
NBD="nbd://127.0.0.1:$NBD_PORT/"


run() {  # run NAME TARGET ibnbd-bench-args...
    local name=$1 target=$2; shift 2
    echo "== $name: $*"
    "$BIN/ibnbd-bench" -q --runtime "$RUNTIME" --ramp "$RAMP" --json "$@" "$target" > "$WORK/json/$name.json" \
        || { echo "side_by_side.sh: ibnbd-bench failed for $name" >&2; tail -5 "$WORK/server.log" >&2; exit 1; }
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); d=j["read"] if j["read"]["ios"] else j["write"]; print("   %.0f IOPS  %.1f MiB/s  avg %.1f us  p99 %.1f us" % (d["iops"], d["bw_bytes_per_s"]/1048576, d["lat_ns"]["avg"]/1e3, d["lat_ns"]["p99"]/1e3))' "$WORK/json/$name.json"
}

pair() {  # pair KEY ibnbd-bench-args...: both targets, REPEAT times
    local key=$1; shift
    for rep in $(seq "$REPEAT"); do
        run "ibnbd-$key-r$rep" "$IBNBD" "$@"
        run "nbdkit-$key-r$rep" "$NBD" "$@"
    done
}
for rw in randread randwrite; do
    for qd in 1 8 32 128; do pair "$rw-4k-qd$qd" --rw $rw --bs 4k --iodepth $qd; done
done
for rw in read write; do pair "$rw-128k-qd8" --rw $rw --bs 128k --iodepth 8; done

cut -d' ' -f1-3 /proc/loadavg > "$WORK/json/load-after.txt"
mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/latest
[ "$HOG" = 0 ] || OUT=$OUT-hog
python3 "$ROOT/bench/side_by_side_report.py" "$WORK/json" "$OUT" --runtime "$RUNTIME" --ramp "$RAMP" --repeat "$REPEAT" \
    --hog "$HOG"
echo "wrote $OUT.md, $OUT.svg and $OUT.json (add a row to the history in bench/README.md if this run matters)"
cat "$OUT.md"

if [ "$MULTIPATH" = 1 ]; then
    bash "$ROOT/bench/multipath_bandwidth.sh" --no-build || echo "side_by_side.sh: multipath run skipped or failed (exit $?)"
fi
