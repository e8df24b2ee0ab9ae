#!/usr/bin/env bash
# idle_cpu.sh: how much CPU ibnbd-server and ibnbd-client burn with no IO, read from
# /proc/PID/stat (utime + stime) over a window. For each reactor count both daemons run on
# loopback (libfabric tcp, daemon defaults otherwise): first with no session, then with one device
# mapped and its NBD export idle. Goal: <= 1% of one core per daemon (bench/README.md).
#
#   bash bench/idle_cpu.sh [--reactors "1 2"] [--seconds S] [--max-percent P] [--json FILE] [--record]
#
# --max-percent: exit 1 when a figure exceeds P (the test passes a wide margin).
# --record: also writes bench/results/latest-idle-cpu.md, replacing the last recorded run.
# IBNBD_BIN: the binaries (default build/bin). Exit 77 when a binary is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${IBNBD_BIN:-$ROOT/build/bin}
REACTORS="1 2"
SECONDS_PER=10
MAX=""
JSON=""
RECORD=0
while [ $# -gt 0 ]; do
    case $1 in
        --reactors) REACTORS=$2; shift 2 ;;
        --seconds) SECONDS_PER=$2; shift 2 ;;
        --max-percent) MAX=$2; shift 2 ;;
        --json) JSON=$2; shift 2 ;;
        --record) RECORD=1; shift ;;
        *) echo "idle_cpu.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
for b in ibnbd-server ibnbd-client ibnbd; do
    [ -x "$BIN/$b" ] || { echo "idle_cpu.sh: $BIN/$b is not built" >&2; exit 77; }
done
source "$ROOT/scripts/server_ready.sh"

WORK=$(mktemp -d /tmp/ibnbd-idle.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
die() { echo "idle_cpu.sh: $*" >&2; for f in "$WORK"/*.log; do echo "--- $f"; tail -5 "$f"; done >&2; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# cpu_of "PID..." : percent of one core each PID used over the window, measured side by side.
cpu_of() {
    local hz before=() after=() i=0 pid
    hz=$(getconf CLK_TCK)
    for pid in "$@"; do before+=("$(ticks "$pid")"); done
    sleep "$SECONDS_PER"
    for pid in "$@"; do after+=("$(ticks "$pid")"); done
    for pid in "$@"; do
        awk -v a="${before[$i]}" -v b="${after[$i]}" -v hz="$hz" -v s="$SECONDS_PER" \
            'BEGIN { printf "%.2f\n", (b - a) * 100 / (hz * s) }'
        i=$((i + 1))
    done
}

ROWS=()
measure_reactors() {  # measure_reactors N: appends "N state server client" rows
    local n=$1 port=$(( 20000 + RANDOM % 20000 )) sock=$WORK/client-$1.sock server client figures
    mkdir -p "$WORK/vols" "$WORK/nbd-$n" && truncate -s 64M "$WORK/vols/vol0"
    "$BIN/ibnbd-server" --listen "127.0.0.1:$port" --dev-search-path "$WORK/vols" --reactors "$n" \
        > "$WORK/server-$n.log" 2>&1 &
    server=$!; PIDS+=("$server")
    server_ready "$WORK/server-$n.log" "$server" || die "ibnbd-server did not start"
    "$BIN/ibnbd-client" --control-socket "$sock" --nbd-dir "$WORK/nbd-$n" --reactors "$n" \
        > "$WORK/client-$n.log" 2>&1 &
    client=$!; PIDS+=("$client")
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    [ -S "$sock" ] || die "ibnbd-client did not create its control socket"
    sleep 1  # start-up work done
    mapfile -t figures < <(cpu_of "$server" "$client")
    ROWS+=("$n unmapped ${figures[0]} ${figures[1]}")
    "$BIN/ibnbd" --control-socket "$sock" map --session idle --path "127.0.0.1:$port" --device vol0 \
        > "$WORK/map-$n.log" 2>&1 || die "map failed"
    sleep 1  # the map's handshakes and first heartbeats done
    mapfile -t figures < <(cpu_of "$server" "$client")
    ROWS+=("$n mapped-idle ${figures[0]} ${figures[1]}")
    kill "$client" "$server"; wait "$client" "$server" 2>/dev/null
    PIDS=()
}

for n in $REACTORS; do measure_reactors "$n"; done

report() {
    echo "| reactors | state | ibnbd-server % of a core | ibnbd-client % of a core |"
    echo "|---|---|---|---|"
    for row in "${ROWS[@]}"; do set -- $row; echo "| $1 | $2 | $3 | $4 |"; done
}
report
echo "(each figure: /proc/PID/stat over ${SECONDS_PER} s; load average $(cut -d' ' -f1-3 /proc/loadavg))"
if [ -n "$JSON" ]; then
    {
        echo '{"seconds": '"$SECONDS_PER"', "rows": ['
        sep=""
        for row in "${ROWS[@]}"; do
            set -- $row
            printf '%s{"reactors": %s, "state": "%s", "server": %s, "client": %s}' "$sep" "$1" "$2" "$3" "$4"
            sep=$',\n'
        done
        echo ']}'
    } > "$JSON"
fi
if [ "$RECORD" = 1 ]; then
    out=$ROOT/bench/results/latest-idle-cpu.md
    mkdir -p "$ROOT/bench/results"
    { echo "# Idle CPU, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs"; echo; report;
      echo; echo "Each figure over ${SECONDS_PER} s; load average $(cut -d' ' -f1-3 /proc/loadavg)."; } > "$out"
    echo "wrote $out"
fi
over=0
if [ -n "$MAX" ]; then
    for row in "${ROWS[@]}"; do
        set -- $row
        for who in "server $3" "client $4"; do
            set -- $row $who
            if awk -v f="$6" -v m="$MAX" 'BEGIN { exit !(f > m) }'; then
                echo "ibnbd-$5 with $1 reactors, $2: $6% of a core (limit $MAX%)" >&2
                over=1
            fi
        done
    done
fi
exit $over
