#!/usr/bin/env bash
# Idle daemons sleep in the kernel: bench/idle_cpu.sh runs ibnbd-server and
# ibnbd-client on loopback with --reactors 1 and 2, with no session and with one device mapped
# and idle, and reads each daemon's CPU time from /proc/PID/stat over 3 s. Every figure must stay
# under 5% of a core: a wide margin over the 1% goal, so that a loaded machine does not make the
# test flaky, yet far below what a reactor that polls when idle burns (20-70%). The exact figures
# are the benchmark's (bench/README.md).
SRC=$1; BIN=$2
need_python() { command -v python3 >/dev/null || { echo "SKIPPED: python3 is not installed"; exit 77; }; }
need_python
OUT=$(mktemp -d /tmp/ibnbd-idle-test.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
IBNBD_BIN=$BIN bash "$SRC/bench/idle_cpu.sh" --reactors "1 2" --seconds 3 --max-percent 5 --json "$OUT/idle.json" \
    > "$OUT/log" 2>&1
status=$?
cat "$OUT/log"
[ $status = 77 ] && exit 77
python3 - "$OUT/idle.json" <<'PY' || exit 1
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
seen = {(r["reactors"], r["state"]) for r in rows}
want = {(n, s) for n in (1, 2) for s in ("unmapped", "mapped-idle")}
assert seen == want, f"measured {sorted(seen)}, want {sorted(want)}"
for r in rows:
    for who in ("server", "client"):
        assert 0 <= r[who] < 5, f"ibnbd-{who} with {r['reactors']} reactors, {r['state']}: {r[who]}% of a core"
PY
[ $status = 0 ] || { echo "FAIL: idle_cpu.sh exited $status"; exit 1; }
echo "1 passed, 0 failed"
