#!/bin/bash
# ublk_vs_nbd_guest.sh - runs inside the 6.12 SoftRoCE guest (bench/ublk_vs_nbd.sh boots it): one
# ibnbd-server over verbs on rxe0 serving three files in tmpfs, one ibnbd-client mapping
#   vol0 --ublk                  -> /dev/ublkb0
#   vol1 --export nbd --nbd-tcp  -> /dev/nbd0 (the kernel's nbd-client, two connections)
#   vol2 in-process              -> ibnbd://bench2/vol2 (ibnbd-bench is the IBNBD client itself)
# and ibnbd-bench 4 KiB randread and randwrite at QD1 and QD32 on each (O_DIRECT on the block
# devices). Prints one Markdown table: IOPS and p50 latency per target, and ublk's ratios to NBD.
set -u
cd "$(dirname "$0")"
export PATH=$PWD:$PWD/bin:$PATH
RUNTIME=${BENCH_RUNTIME:-5}
A=${RXE_VM_IP:-198.18.0.1}
W=/dev/shm/ublk-bench; mkdir -p "$W/vols"
for v in vol0 vol1 vol2; do head -c $((256 << 20)) /dev/zero > "$W/vols/$v"; done  # allocated: no holes
export IBNBD_CONTROL=$W/client.sock
die() { echo "BENCH FAILED: $*"; for f in "$W"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }
modprobe ublk_drv || die "no ublk_drv"
modprobe nbd nbds_max=2 || die "no nbd module"
ibnbd-server --fabric verbs --listen "$A:4321" --dev-search-path "$W/vols" --queue-depth 128 > "$W/server.log" 2>&1 &
for _ in $(seq 200); do grep -q serving "$W/server.log" && break; sleep 0.1; done
ibnbd-client --fabric verbs --rdma-address "$A" --control-socket "$IBNBD_CONTROL" --nbd-dir "$W" > "$W/client.log" 2>&1 &
for _ in $(seq 100); do [ -S "$IBNBD_CONTROL" ] && break; sleep 0.1; done
ibnbd map --session bench --device vol0 --path "$A@$A:4321" --ublk > /dev/null || die "map --ublk"
ibnbd map --session bench --device vol1 --export nbd --nbd-tcp 127.0.0.1:10809 > /dev/null || die "map --export nbd"
timeout 30 nbd-client -N vol1 127.0.0.1 10809 /dev/nbd0 -b 4096 -C 2 > /dev/null || die "nbd-client"

# result TARGET RW QD: "IOPS P50_US" of one run
result() {
    local target=$1 rw=$2 qd=$3 dir json extra=()
    dir=$([ "$rw" = randread ] && echo read || echo write)
    [ "${target#ibnbd://}" != "$target" ] && extra=(--fabric verbs)
    json=$(ibnbd-bench "${extra[@]}" --rw "$rw" --bs 4k --iodepth "$qd" --runtime "$RUNTIME" --ramp 1 --size 128m \
           --json -q "$target" 2> "$W/bench.err" | tr -d ' \n') || die "ibnbd-bench $target $rw QD$qd: $(cat "$W/bench.err")"
    sed -n "s/.*\"$dir\":{\"ios\":[0-9]*,\"bytes\":[0-9]*,\"iops\":\([0-9.]*\),\"bw_bytes_per_s\":[0-9.e+]*,\"lat_ns\":{\"min\":[0-9]*,\"avg\":[0-9.e+]*,\"p50\":\([0-9]*\).*/\1 \2/p" <<< "$json" |
        awk '{printf "%.0f %.1f\n", $1, $2 / 1000}'
}
echo "| workload | ublk IOPS | NBD IOPS | in-process IOPS | ublk p50 µs | NBD p50 µs | in-process p50 µs | ublk/NBD IOPS | ublk/NBD p50 |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for rw in randread randwrite; do
    for qd in 1 32; do
        read -r u_iops u_p50 <<< "$(result /dev/ublkb0 $rw $qd)"
        read -r n_iops n_p50 <<< "$(result /dev/nbd0 $rw $qd)"
        read -r i_iops i_p50 <<< "$(result "ibnbd://bench2/vol2?path=$A@$A:4321" $rw $qd)"
        awk -v w="$rw QD$qd" -v ui="$u_iops" -v ni="$n_iops" -v ii="$i_iops" -v up="$u_p50" -v np="$n_p50" -v ip="$i_p50" \
            'BEGIN{printf "| 4 KiB %s | %d | %d | %d | %.0f | %.0f | %.0f | %.2f× | %.2f× |\n", w, ui, ni, ii, up, np, ip, ui/ni, up/np}'
    done
done
timeout 30 nbd-client -d /dev/nbd0 > /dev/null
ibnbd unmap --session bench --device vol0 || die "unmap vol0"
ibnbd unmap --session bench --device vol1 || die "unmap vol1"
echo "guest: $(uname -r), $(nproc) vCPUs"
