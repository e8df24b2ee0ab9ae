#!/bin/bash
# guest_side_by_side_guest.sh - runs inside the 6.12 SoftRoCE guest (bench/guest_side_by_side.sh
# boots it). One brd RAM disk (/dev/ram0) is the backing of every target, served and mapped in
# turn over rxe0 (or TCP over the guest's dummy0 for NVMe/TCP and NBD):
#   rnbd-Y, rnbd-N  the kernel's rnbd-server/rnbd-client, rtrs-server always_invalidate Y and N
#   nvme-rdma       nvmet-rdma + nvme-rdma (configfs and /dev/nvme-fabrics, no nvme-cli)
#   nvme-tcp        nvmet-tcp + nvme-tcp
#   nbdkit          nbdkit's file plugin over TCP + the kernel's nbd-client (/dev/nbd0, two connections)
#   ibnbd-ublk      ibnbd-server + ibnbd-client --ublk (/dev/ublkb0)
#   ibnbd-nbd       ibnbd-server + ibnbd-client's NBD export over TCP + the kernel's nbd-client (the same)
#   ibnbd-inproc    ibnbd-server + ibnbd-bench as the IBNBD client (no block device)
# Each workload runs fio (O_DIRECT, io_uring) on the block device, ibnbd-bench for ibnbd-inproc,
# with no ramp, so that every IO of the run is counted against the CPU time of the run.
# Prints one line per measurement: "SBS-RESULT {json}" with the target, the workload, the guest's
# busy CPU seconds (all CPUs, /proc/stat), for ibnbd the server's and the client's own CPU seconds
# (/proc/PID/stat of the daemons; ibnbd-bench's from `time` when it is the client)
# over the run, and the load generator's JSON result. bench/guest_side_by_side_report.py turns
# them into the table.
#   BENCH_RUNTIME  seconds per measurement (5)
#   BENCH_QUICK=1  one workload per target (the ctest label bench-guest: keeps the script working)
#   BENCH_NOSPIN=1 the ibnbd targets once more with --spin-polls 0 (ibnbd-*-nospin)
#   BENCH_PROFILE=1 each target's 4 KiB randread QD1 once more under perf (SBS-PROFILE lines)
set -u
cd "$(dirname "$0")"
export PATH=$PWD:$PWD/bin:$PATH
. ./lib.sh  # tests/interop/guest/lib.sh: the kernel peer's module loading and rnbd-client helpers
note() { echo "SBS: $*"; }
RUNTIME=${BENCH_RUNTIME:-5}
SBS=/dev/shm/sbs
mkdir -p "$SBS"
WORKLOADS="randread:4k:1 randread:4k:32 randwrite:4k:1 randwrite:4k:32 read:128k:8 write:128k:8"
[ "${BENCH_QUICK:-0}" = 1 ] && WORKLOADS="randread:4k:32"
die() { echo "BENCH FAILED: $*"; for f in "$SBS"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }

busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }  # user nice system irq softirq steal
proc_ticks() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }

# measure TARGET DEVICE_OR_URL RW BS QD: one run, one SBS-RESULT line: the guest's busy CPU, and
# for ibnbd the server's and the client's (the client daemon, or ibnbd-bench when it is the
# client) CPU seconds. The ibnbd daemons' pids are in SERVER_PID and CLIENT_PID.
SERVER_PID=""
CLIENT_PID=""
measure() {
    local target=$1 dev=$2 rw=$3 bs=$4 qd=$5 b0 b1 s0 s1 c0 c1 client_cpu out=$SBS/result.json
    b0=$(busy_ticks); s0=$(proc_ticks $SERVER_PID); c0=$(proc_ticks $CLIENT_PID)
    if [ "${dev#ibnbd://}" != "$dev" ]; then
        # No block layer splits for the in-process client: 128 KiB does not fit a 128 KiB chunk
        # with its header, so it runs 124 KiB, the size the kernel's block layer splits to anyway.
        local io_bs=$bs TIMEFORMAT='%U %S'
        [ "$bs" = 128k ] && io_bs=124k
        # `time`: ibnbd-bench is the client, and its own CPU time is the client's (its own
        # --runtime and --connect-timeout bound it).
        { time ibnbd-bench --fabric verbs --rw "$rw" --bs "$io_bs" --iodepth "$qd" --runtime "$RUNTIME" --size 128m \
              --json -q "$dev" > "$out" 2> "$SBS/bench.log"; } 2> "$SBS/client-time" || die "ibnbd-bench $target $rw $bs QD$qd"
    else
        within $((RUNTIME + 60)) fio --name=sbs --filename="$dev" --direct=1 --ioengine=io_uring --rw="$rw" --bs="$bs" \
            --iodepth="$qd" --size=128m --runtime="$RUNTIME" --time_based --lat_percentiles=1 --clat_percentiles=0 --percentile_list=50:99 \
            --output-format=json > "$out" 2> "$SBS/bench.log" || die "fio $target $rw $bs QD$qd"
    fi
    b1=$(busy_ticks); s1=$(proc_ticks $SERVER_PID); c1=$(proc_ticks $CLIENT_PID)
    if [ "${dev#ibnbd://}" != "$dev" ]; then client_cpu=$(awk '{print $1 + $2}' "$SBS/client-time")
    else client_cpu=$(awk "BEGIN{print ($c1 - $c0) / 100}"); fi
    printf 'SBS-RESULT {"target":"%s","workload":"%s-%s-qd%s","busy_cpu_s":%s,"server_cpu_s":%s,"client_cpu_s":%s,"tool":"%s","result":%s}\n' \
        "$target" "$rw" "$bs" "$qd" "$(awk "BEGIN{print ($b1 - $b0) / 100}")" "$(awk "BEGIN{print ($s1 - $s0) / 100}")" \
        "$client_cpu" "$([ "${dev#ibnbd://}" != "$dev" ] && echo ibnbd-bench || echo fio)" "$(tr -d '\n' < "$out")"
}
# profile TARGET DEVICE_OR_URL: BENCH_PROFILE=1 only: 4 KiB randread QD1 once more under a
# system-wide perf sample (cpu-clock), printed as "SBS-PROFILE TARGET ..." lines: where the CPU
# time of one IO goes, by process and object, and the hottest symbols.
profile() {
    [ "${BENCH_PROFILE:-0}" = 1 ] || return 0
    local target=$1 dev=$2 data=$SBS/perf.data
    perf record -a -e cpu-clock -F 999 -o "$data" -- sleep "$RUNTIME" > /dev/null 2>&1 &
    local recorder=$!
    measure "$target-profiled" "$dev" randread 4k 1 > /dev/null
    wait "$recorder"
    perf report -i "$data" --stdio --sort comm,dso --percent-limit 2 2> /dev/null | grep '%' | sed "s/^/SBS-PROFILE $target /"
    perf report -i "$data" --stdio --sort sym --percent-limit 1.5 2> /dev/null | grep '%' | sed "s/^/SBS-PROFILE $target sym /"
}
run_workloads() {
    local target=$1 dev=$2 w rw bs qd
    for w in $WORKLOADS; do
        IFS=: read -r rw bs qd <<< "$w"
        measure "$target" "$dev" "$rw" "$bs" "$qd"
    done
    profile "$target" "$dev"
    note "$target done"
}

modprobe brd rd_nr=1 rd_size=$((256 * 1024)) || die "no brd"
dd if=/dev/zero of=/dev/ram0 bs=1M count=256 oflag=direct status=none  # allocated: no holes
modprobe nbd nbds_max=2 || die "no nbd"
modprobe ublk_drv || die "no ublk_drv"

# ---- the kernel's RNBD, both always_invalidate settings ---------------------------------------
load_rtrs always_invalidate=Y && load_kmod rnbd-client || die "kernel rtrs/rnbd modules"
for ai in Y N; do
    load_rnbd_server "$ai" || die "rnbd-server always_invalidate=$ai"
    dev=$(kmap sbs ram0 1234 "ip:$A@ip:$A") || die "rnbd map_device"
    run_workloads "rnbd-$ai" "$dev"
    kunmap "$dev" || die "rnbd unmap"
    wait_for 10 sh -c '! ls /sys/class/rtrs-client/sbs >/dev/null 2>&1'
    rmmod rnbd-server; rmmod rtrs-server
done

# ---- NVMe-oF over RDMA and TCP (kernel target and host) --------------------------------------
modprobe nvmet && modprobe nvmet-rdma && modprobe nvmet-tcp && modprobe nvme-rdma && modprobe nvme-tcp ||
    die "nvme modules"
grep -q " /sys/kernel/config " /proc/mounts || mount -t configfs none /sys/kernel/config
NVMET=/sys/kernel/config/nvmet
NQN=nqn.2026-12.io.ibnbd:sbs
mkdir "$NVMET/subsystems/$NQN" && echo 1 > "$NVMET/subsystems/$NQN/attr_allow_any_host" &&
    mkdir "$NVMET/subsystems/$NQN/namespaces/1" && echo /dev/ram0 > "$NVMET/subsystems/$NQN/namespaces/1/device_path" &&
    echo 1 > "$NVMET/subsystems/$NQN/namespaces/1/enable" || die "nvmet subsystem"
port=1
for transport in rdma tcp; do
    mkdir "$NVMET/ports/$port" && echo "$transport" > "$NVMET/ports/$port/addr_trtype" &&
        echo ipv4 > "$NVMET/ports/$port/addr_adrfam" && echo "$A" > "$NVMET/ports/$port/addr_traddr" &&
        echo $((4419 + port)) > "$NVMET/ports/$port/addr_trsvcid" &&
        ln -s "$NVMET/subsystems/$NQN" "$NVMET/ports/$port/subsystems/$NQN" || die "nvmet port $transport"
    within 60 sh -c "echo 'nqn=$NQN,transport=$transport,traddr=$A,trsvcid=$((4419 + port))' > /dev/nvme-fabrics" ||
        die "nvme connect $transport"
    ctrl=$(grep -l "^$NQN\$" /sys/class/nvme/*/subsysnqn | head -n 1); ctrl=$(basename "$(dirname "$ctrl")")
    # The namespace's block device (with native multipath the controller's own is hidden).
    wait_for 10 sh -c "ls /sys/block | grep -qE '^nvme[0-9]+n1\$'" || die "no namespace on $ctrl"
    dev=/dev/$(ls /sys/block | grep -m1 -E '^nvme[0-9]+n1$')
    run_workloads "nvme-$transport" "$dev"
    echo 1 > "/sys/class/nvme/$ctrl/delete_controller"
    rm "$NVMET/ports/$port/subsystems/$NQN"; rmdir "$NVMET/ports/$port"
    port=$((port + 1))
done
echo 0 > "$NVMET/subsystems/$NQN/namespaces/1/enable"  # closes /dev/ram0 for the next servers

# ---- nbdkit over the kernel's nbd-client ------------------------------------------------------
nbdkit -f -i 127.0.0.1 -p 10810 ./nbdkit-file-plugin.so file=/dev/ram0 cache=none > "$SBS/nbdkit.log" 2>&1 &
nbdkit=$!
within 30 sh -c 'until nbd-client 127.0.0.1 10810 /dev/nbd0 -b 4096 -C 2; do sleep 0.2; done' > /dev/null ||
    die "nbd-client nbdkit"
run_workloads nbdkit /dev/nbd0
within 30 nbd-client -d /dev/nbd0 > /dev/null
kill "$nbdkit"; wait "$nbdkit" 2>/dev/null

# ---- ibnbd: ublk, NBD export, in-process ------------------------------------------------------
# ibnbd_targets SUFFIX [DAEMON OPTIONS...]: the three ibnbd targets, named ibnbd-*SUFFIX.
ibnbd_targets() {
    local suffix=$1 server client; shift
    export IBNBD_CONTROL=$SBS/client.sock
    ibnbd-server --fabric verbs --listen "$A:4321" --dev-search-path /dev "$@" > "$SBS/server.log" 2>&1 &
    server=$!
    wait_for 20 grep -q serving "$SBS/server.log" || die "ibnbd-server"
    ibnbd-client --fabric verbs --rdma-address "$A" --control-socket "$IBNBD_CONTROL" --nbd-dir "$SBS" "$@" \
        > "$SBS/client.log" 2>&1 &
    client=$!
    wait_for 10 test -S "$IBNBD_CONTROL" || die "ibnbd-client"
    SERVER_PID=$server CLIENT_PID=$client
    ibnbd map --session sbs --device ram0 --path "$A@$A:4321" --ublk > /dev/null || die "map --ublk"
    run_workloads "ibnbd-ublk$suffix" /dev/ublkb0
    ibnbd unmap --session sbs --device ram0 > /dev/null || die "unmap ublk"
    ibnbd map --session sbs --device ram0 --path "$A@$A:4321" --export nbd --nbd-tcp 127.0.0.1:10809 > /dev/null ||
        die "map --export nbd"
    within 30 nbd-client -N ram0 127.0.0.1 10809 /dev/nbd0 -b 4096 -C 2 > /dev/null || die "nbd-client ibnbd"
    run_workloads "ibnbd-nbd$suffix" /dev/nbd0
    within 30 nbd-client -d /dev/nbd0 > /dev/null
    ibnbd unmap --session sbs --device ram0 > /dev/null || die "unmap nbd"
    CLIENT_PID=""  # ibnbd-bench is the client
    run_workloads "ibnbd-inproc$suffix" "ibnbd://sbs2/ram0?path=$A@$A:4321"
    kill -TERM "$client" "$server"; wait "$client" "$server"
    rm -f "$IBNBD_CONTROL"
    SERVER_PID=""
}
ibnbd_targets ""
# BENCH_NOSPIN=1: again with no busy polling after work (--spin-polls 0 on both daemons; the
# in-process client keeps its own), to see what the polling costs in CPU per IO.
[ "${BENCH_NOSPIN:-0}" = 1 ] && ibnbd_targets -nospin --spin-polls 0
echo "SBS-GUEST kernel=$(uname -r) cpus=$(nproc) fio=$(fio --version)"
