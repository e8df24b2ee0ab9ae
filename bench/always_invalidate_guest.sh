#!/bin/bash
# always_invalidate_guest.sh - runs inside the SoftRoCE guest (bench/always_invalidate.sh boots it):
# ibnbd-server --always-invalidate on (port 4321) and off (port 4322) over verbs on rxe0, each
# serving a file in tmpfs, and ibnbd-bench in-process on each, the servers in turn for every
# workload. Prints one Markdown table: IOPS and p50 latency with keys rotating and fixed.
set -u
cd "$(dirname "$0")"
export PATH=$PWD:$PWD/bin:$PATH
RUNTIME=${BENCH_RUNTIME:-5}
A=${RXE_VM_IP:-198.18.0.1}
W=/dev/shm/ai-bench; mkdir -p "$W/vols"
head -c $((256 << 20)) /dev/zero > "$W/vols/vol0"  # allocated: no holes
die() { echo "BENCH FAILED: $*"; for f in "$W"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }
for mode in on off; do
    port=$([ $mode = on ] && echo 4321 || echo 4322)
    ibnbd-server --fabric verbs --listen "$A:$port" --dev-search-path "$W/vols" --queue-depth 128 --reactors 1 \
        --always-invalidate $mode -v > "$W/server-$mode.log" 2>&1 &
    for _ in $(seq 200); do grep -q serving "$W/server-$mode.log" && break; sleep 0.1; done
    grep -q "always_invalidate $mode" "$W/server-$mode.log" || die "server $mode did not start"
done

# result MODE RW QD: "IOPS P50_US" of one run
result() {
    local mode=$1 rw=$2 qd=$3 dir json port
    dir=$([ "$rw" = randread ] && echo read || echo write)
    port=$([ "$mode" = on ] && echo 4321 || echo 4322)
    json=$(ibnbd-bench --fabric verbs --rw "$rw" --bs 4k --iodepth "$qd" --runtime "$RUNTIME" --ramp 1 --size 128m \
           --json -q "ibnbd://bench-$mode/vol0?path=$A@$A:$port" 2> "$W/bench.err" | tr -d ' \n') ||
        die "ibnbd-bench $mode $rw QD$qd: $(cat "$W/bench.err")"
    sed -n "s/.*\"$dir\":{\"ios\":[0-9]*,\"bytes\":[0-9]*,\"iops\":\([0-9.]*\),\"bw_bytes_per_s\":[0-9.e+]*,\"lat_ns\":{\"min\":[0-9]*,\"avg\":[0-9.e+]*,\"p50\":\([0-9]*\).*/\1 \2/p" <<< "$json" |
        awk '{printf "%.0f %.1f\n", $1, $2 / 1000}'
}
echo "| workload | IOPS on | IOPS off | p50 µs on | p50 µs off | IOPS on/off | p50 on/off |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for rw in randread randwrite; do
    for qd in 1 32; do
        read -r on_iops on_p50 <<< "$(result on $rw $qd)"
        read -r off_iops off_p50 <<< "$(result off $rw $qd)"
        awk -v w="$rw QD$qd" -v a="$on_iops" -v b="$off_iops" -v c="$on_p50" -v d="$off_p50" \
            'BEGIN{printf "| 4 KiB %s | %d | %d | %.0f | %.0f | %.2f× | %.2f× |\n", w, a, b, c, d, a/b, c/d}'
    done
done
for mode in on off; do
    grep -q "violation\|error" "$W/server-$mode.log" && echo "server $mode log: $(grep -c 'violation\|error' "$W/server-$mode.log") warnings"
done
echo "guest: $(uname -r), $(nproc) vCPUs"
