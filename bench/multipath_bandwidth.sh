#!/usr/bin/env bash
# Multipath bandwidth: two network namespaces joined by two veth pairs (198.18.1.0/24 and
# 198.18.2.0/24, only inside the namespaces made here), each direction of each pair rate-limited
# by tc tbf so that the links, not the CPUs, are the bottleneck. ibnbd-server listens on both
# links in one namespace; ibnbd-bench in the other runs 128 KiB sequential reads and writes over
# one path, then over two with min-inflight and with round-robin. Goal: the second path adds at
# least 90% of the first one's bandwidth. Exit 77 when namespaces, veth or tc are unavailable.
#
#   bash bench/multipath_bandwidth.sh [--rate MBIT] [--runtime S] [--out DIR] [--no-build]
# Results go to DIR (default bench/results) as latest-multipath.md, replacing the last run's.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/server_ready.sh"
BIN=${IBNBD_BIN:-$ROOT/build/bin}  # another build: IBNBD_BIN=build-asan/bin
RATE=300
RUNTIME=4
BUILD=1
RESULTS=$ROOT/bench/results
while [ $# -gt 0 ]; do
    case $1 in
        --rate) RATE=$2; shift 2 ;;
        --runtime) RUNTIME=$2; shift 2 ;;
        --out) RESULTS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
        *) echo "multipath_bandwidth.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$RATE" =~ ^[0-9]+$ ]] && [ "$RATE" -gt 0 ] || { echo "multipath_bandwidth.sh: --rate takes Mbit/s, e.g. 300" >&2; exit 2; }
skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null && command -v tc >/dev/null || skip "ip and tc (iproute2) are needed"

if [ "$BUILD" = 1 ]; then
    [ -f "$ROOT/build/build.ninja" ] || cmake --preset default -S "$ROOT" >/dev/null
    cmake --build "$ROOT/build" -j2 --target ibnbd-server ibnbd-bench || exit 1
fi

NS_S=ibnbd-mps-$$; NS_C=ibnbd-mpc-$$
WORK=$(mktemp -d /dev/shm/ibnbd-mp.XXXXXX)
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    ip netns del "$NS_S" 2>/dev/null; ip netns del "$NS_C" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$NS_S" 2>/dev/null || skip "cannot create network namespaces here"
ip netns add "$NS_C" || skip "cannot create network namespaces here"
for n in 1 2; do
    ip link add "mp$n-$$s" type veth peer name "mp$n-$$c" 2>/dev/null || skip "veth pairs are not available"
    ip link set "mp$n-$$s" netns "$NS_S"; ip link set "mp$n-$$c" netns "$NS_C"
    ip -n "$NS_S" addr add "198.18.$n.1/24" dev "mp$n-$$s"; ip -n "$NS_S" link set "mp$n-$$s" up
    ip -n "$NS_C" addr add "198.18.$n.2/24" dev "mp$n-$$c"; ip -n "$NS_C" link set "mp$n-$$c" up
    for side in "$NS_S mp$n-$$s" "$NS_C mp$n-$$c"; do
        set -- $side
        tc -n "$1" qdisc add dev "$2" root tbf rate "${RATE}mbit" burst 256kb latency 20ms 2>/dev/null \
            || skip "tc tbf is not available (sch_tbf)"
    done
done
ip -n "$NS_S" link set lo up; ip -n "$NS_C" link set lo up

PORT=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$WORK/vols" && truncate -s 1G "$WORK/vols/vol0"
ip netns exec "$NS_S" "$BIN/ibnbd-server" --listen "198.18.1.1:$PORT" --listen "198.18.2.1:$PORT" \
    --dev-search-path "$WORK/vols" --queue-depth 128 --chunk-size 262144 > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
server_ready "$WORK/server.log" "$SERVER_PID" || { cat "$WORK/server.log"; echo "ibnbd-server did not start"; exit 1; }

P1="path=198.18.1.2@198.18.1.1:$PORT"; P2="path=198.18.2.2@198.18.2.1:$PORT"
bandwidth() {  # bandwidth NAME RW POLICY PATHS -> MiB/s on stdout
    local name=$1 rw=$2 policy=$3 query=$4
    ip netns exec "$NS_C" "$BIN/ibnbd-bench" -q --json --rw "$rw" --bs 128k --iodepth 32 --runtime "$RUNTIME" \
        --ramp 0.5 --mp-policy "$policy" "ibnbd://$name/vol0?$query" > "$WORK/$name.json" 2> "$WORK/$name.log" \
        || { cat "$WORK/$name.log" >&2; echo "ibnbd-bench failed ($name)" >&2; exit 1; }
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); d=j[sys.argv[2]]; print("%.1f" % (d["bw_bytes_per_s"]/1048576))' \
        "$WORK/$name.json" "$([ "$rw" = write ] && echo write || echo read)"
}

declare -A BW
for rw in read write; do
    BW[$rw-1]=$(bandwidth "one$rw" "$rw" min-inflight "$P1") || exit 1
    BW[$rw-mi]=$(bandwidth "mi$rw" "$rw" min-inflight "$P1&$P2") || exit 1
    BW[$rw-rr]=$(bandwidth "rr$rw" "$rw" round-robin "$P1&$P2") || exit 1
    echo "$rw: one path ${BW[$rw-1]} MiB/s, two paths min-inflight ${BW[$rw-mi]} MiB/s, round-robin ${BW[$rw-rr]} MiB/s"
done

mkdir -p "$RESULTS"
OUT=$RESULTS/latest-multipath.md
python3 - "$OUT" "$RATE" "$RUNTIME" "${BW[read-1]}" "${BW[read-mi]}" "${BW[read-rr]}" "${BW[write-1]}" "${BW[write-mi]}" "${BW[write-rr]}" <<'PY'
import datetime, os, platform, sys
out, rate, runtime = sys.argv[1], float(sys.argv[2]), sys.argv[3]
v = [float(x) for x in sys.argv[4:]]
link = rate * 1e6 / 8 / 1048576
lines = [f"# Multipath bandwidth, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}", "",
         f"{os.cpu_count()} CPUs, Linux {platform.release()}. Two veth paths between network namespaces, each direction "
         f"limited to {rate:.0f} Mbit/s by tc tbf ({link:.1f} MiB/s of payload at most); 128 KiB sequential IO, "
         f"QD32, {runtime} s per run, ibnbd over libfabric tcp.", "",
         "| IO | one path (MiB/s) | two paths, min-inflight | gain | two paths, round-robin | gain | goal (gain >= 90%) |",
         "|---|---:|---:|---:|---:|---:|---|"]
for name, (one, mi, rr) in (("read", v[0:3]), ("write", v[3:6])):
    gmi, grr = (mi - one) / one * 100, (rr - one) / one * 100
    met = "met" if min(gmi, grr) >= 90 else "missed"
    lines.append(f"| {name} | {one:.1f} | {mi:.1f} | {gmi:+.0f}% | {rr:.1f} | {grr:+.0f}% | {met} |")
open(out, "w").write("\n".join(lines) + "\n")
PY
cat "$OUT"
echo "wrote $OUT"
