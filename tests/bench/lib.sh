# Helpers of the benchmark tools' end-to-end tests: a scratch directory, a random loopback port,
# ibnbd-server over a sparse file and nbdkit's memory plugin, cleanup on exit, skip with 77.
# Source it; BIN must name the build's bin directory.
set -u
WORK=$(mktemp -d /tmp/ibnbd-bench-test.XXXXXX)
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
PIDS=()

bench_cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap bench_cleanup EXIT

built() { for b in "$@"; do [ -x "$BIN/$b" ] || fail "$BIN/$b is not built (cmake --build --preset default --target $b)"; done; }
random_port() { echo $(( 20000 + RANDOM % 20000 )); }

# start_ibnbd_server PORT SIZE: serves $WORK/vols/vol0, a sparse file of SIZE.
start_ibnbd_server() {
    mkdir -p "$WORK/vols" && truncate -s "$2" "$WORK/vols/vol0"
    "$BIN/ibnbd-server" --listen "127.0.0.1:$1" --dev-search-path "$WORK/vols" >> "$WORK/server.log" 2>&1 &
    PIDS+=($!)
    server_ready "$WORK/server.log" "${PIDS[-1]}" || fail "ibnbd-server did not start"
}

# start_nbdkit PORT SIZE: nbdkit's memory plugin on 127.0.0.1.
start_nbdkit() {
    nbdkit --exit-with-parent -f -i 127.0.0.1 -p "$1" memory "$2" >> "$WORK/nbdkit.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do nbdinfo --size "nbd://127.0.0.1:$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "nbdkit did not start"
}

# json_get FILE EXPR: a field of a JSON file, EXPR in Python syntax on `j`.
json_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
