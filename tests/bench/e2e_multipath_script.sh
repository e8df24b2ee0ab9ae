#!/usr/bin/env bash
# bench/multipath_bandwidth.sh runs end to end (namespaces, two tbf-limited veth paths, ibnbd-server
# and ibnbd-bench with two path= entries) and writes its table. Checked: every cell is a number,
# and two paths carry more than one (the second path is used at all). The 90% goal is the
# script's own verdict, reported in the table, never a test condition (speed goals stay out of
# tests). Exit 77 when root, namespaces or tc are unavailable.
SRC=$1; BIN=$2
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root to create network namespaces"; exit 77; }
OUT=$(mktemp -d /tmp/ibnbd-mp-test.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
IBNBD_BIN=$BIN bash "$SRC/bench/multipath_bandwidth.sh" --no-build --rate 400 --runtime 1 --out "$OUT" > "$OUT/log" 2>&1
status=$?
[ $status = 77 ] && { grep SKIPPED "$OUT/log"; exit 77; }
[ $status = 0 ] || { echo "FAIL: multipath_bandwidth.sh exited $status"; cat "$OUT/log"; exit 1; }
python3 - "$OUT/latest-multipath.md" <<'PY' || { cat "$OUT/log"; exit 1; }
import re, sys
rows = [l for l in open(sys.argv[1]) if l.startswith("| read") or l.startswith("| write")]
assert len(rows) == 2, f"expected read and write rows, got {rows}"
for row in rows:
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    one, mi, rr = float(cells[1]), float(cells[2]), float(cells[4])
    assert one > 0 and mi > one * 1.3 and rr > one * 1.3, f"the second path carries nothing: {row}"
    assert cells[6] in ("met", "missed"), row
PY
echo "1 passed, 0 failed"
